package config_test

import (
	"fmt"
	"log"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func Example() {
	c, err := config.Load("../../testdata/config/example.toml")
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range c.Drives {
		fmt.Printf("%s %s -> %s\n", d.Name, d.UUID, d.MountPoint)
	}
	fmt.Println(c.Schedule.Period, c.Schedule.Order, c.Copy.Mode)

	_, err = config.Load("../../testdata/config/broken/typo.toml")
	fmt.Println(err)
	// Output:
	// offsite-1 5b8f3a2e-1c4d-4e6f-9a0b-7c2d1e3f4a5b -> /extbackup
	// offsite-2 c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f -> /extbackup
	// monthly alternate snapshot
	// ../../testdata/config/broken/typo.toml:7: notify.on_failur: unknown key (misspelt? see the commented example config)
}
