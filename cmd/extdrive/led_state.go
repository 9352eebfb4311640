package main

import (
	"context"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

// interactiveLED shows a command run by hand on the configured LED: blue
// while it runs; the caller then sets the outcome (green once the drive is
// safe to remove, red on failure). Without a configuration or an LED it
// returns nil, a no-op Status; an LED that cannot be opened logs one
// warning and never fails the command.
func interactiveLED(ctx context.Context, a *app) *blinkstick.Status {
	cfg, err := config.Load(a.configPath)
	if err != nil {
		// The command reports a broken configuration itself where it
		// needs one; the LED just stays out of it.
		return nil
	}
	led := rotate.OpenLED(ctx, cfg, a.log)
	led.Set(ctx, blinkstick.Interactive)
	return led
}
