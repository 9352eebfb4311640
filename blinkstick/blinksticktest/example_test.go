package blinksticktest_test

import (
	"context"
	"fmt"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/blinkstick/blinksticktest"
)

// A guest test emulates a Nano, lets the code under test drive it through
// hidraw, and checks what the stick was told.
func Example() {
	ctx := context.Background()
	e, err := blinksticktest.Start(ctx, &blinksticktest.Options{Serial: "BS000001-3.1"})
	if err != nil {
		fmt.Println("no uhid here")
		return
	}
	defer e.Close()
	if _, err := e.Hidraw(ctx); err != nil {
		fmt.Println(err)
		return
	}
	s, err := blinkstick.Open(ctx, &blinkstick.OpenOptions{Serial: "BS000001-3.1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	s.SetColor(ctx, blinkstick.Working.Color())
	fmt.Println(e.History(0, 0))
}
