package install_test

import (
	"fmt"

	"github.com/extdrive/extdrive/udevwatch/install"
)

func ExamplePlan() {
	files, err := install.Plan(&install.Options{
		Drives: []install.Drive{{Name: "offsite", UUID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range files {
		fmt.Println(f.Path)
	}
	fmt.Println(install.InstanceUnit("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"))
	// Output:
	// /etc/udev/rules.d/90-extdrive.rules
	// /etc/systemd/system/extdrive@.service
	// /etc/systemd/system/extdrive-failed@.service
	// extdrive@0f1e2d3c\x2d4b5a\x2d6978\x2d8796\x2da5b4c3d2e1f0.service
}

func ExampleEscapePath() {
	name, _ := install.EscapePath("/dev/disk/by-label/My Backup")
	fmt.Println(name)
	// Output: dev-disk-by\x2dlabel-My\x20Backup
}
