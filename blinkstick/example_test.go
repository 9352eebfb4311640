package blinkstick_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/extdrive/extdrive/blinkstick"
)

// A backup job shows its state on the LED and carries on without one.
func Example() {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	led, err := blinkstick.OpenStatus(ctx, &blinkstick.StatusOptions{
		Open:   &blinkstick.OpenOptions{Serial: "BS000000-0.0", Limit: 10},
		Logger: log,
	})
	if errors.Is(err, blinkstick.ErrNotFound) || errors.Is(err, blinkstick.ErrUnsupported) {
		fmt.Println("no LED; going on")
	}
	defer led.Close()

	led.Set(ctx, blinkstick.Working)
	// ... copy ...
	led.Set(ctx, blinkstick.Done)
	// Output: no LED; going on
}

func ExampleParseColor() {
	for _, s := range []string{"yellow", "#ff8800", "off", "chartreuse"} {
		c, _ := blinkstick.ParseColor(s)
		fmt.Println(s, c, c.Scale(50))
	}
	_, err := blinkstick.ParseColor("bleu")
	fmt.Println(err)
	// Output:
	// yellow #ffff00 #7f7f00
	// #ff8800 #ff8800 #7f4300
	// off #000000 #000000
	// chartreuse #7fff00 #3f7f00
	// invalid colour "bleu": use a colour name such as red or yellow, off, or a hex value such as #ff8800
}

func ExampleDetectVariant() {
	v := blinkstick.DetectVariant("BS000001-3.1", "BlinkStick Nano", 0)
	fmt.Println(v, v.LEDs())
	// Output: BlinkStick Nano 2
}
