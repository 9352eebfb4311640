package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/blinkstick"
)

// ledOptions are the flags of `extdrive led`, named as the Python
// blinkstick tool names them so existing scripts and units only change
// the command name.
type ledOptions struct {
	list     bool
	serial   string
	backend  string
	color    string
	off      bool
	index    int
	channel  int
	limit    int
	blink    bool
	pulse    bool
	repeats  int
	duration int // ms, pulse fade time
	delay    int // ms, blink on/off time
}

func newLEDCmd(a *app) *cobra.Command {
	var o ledOptions
	cmd := &cobra.Command{
		Use:   "led [flags] [COLOR]",
		Short: "Set or animate a BlinkStick LED (flags as the blinkstick tool's)",
		Long: `Set or animate a BlinkStick LED. The flags are those of the Python
blinkstick tool: --set-color red, --index 1 --limit 10, --blink, --pulse.
COLOR is a CSS name (red, yellow, green, blue, ...), off, #rrggbb, #rgb or
rrggbb. Without --serial every plugged-in stick is set. --off without
--index turns every LED of the stick off. Blink and pulse end dark;
--repeats 0 runs until interrupted.

Exit codes: 50 no BlinkStick (or none with that serial), 51 permission
denied on the device node, 52 no HID backend in this build, 53 LED
index or channel not on that stick, 2 bad flags.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("set-color") {
					return usagef("give the colour either as --set-color or as an argument, not both")
				}
				o.color = args[0]
			}
			return runLED(cmd.Context(), a, &o, cmd.Flags().Changed("index") || cmd.Flags().Changed("channel"))
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.list, "list", false, "list plugged-in sticks: serial, model, LED count, backend, device")
	f.StringVarP(&o.serial, "serial", "s", "", "act on the stick with this serial number only (default: every stick)")
	f.StringVar(&o.backend, "backend", "", "HID backend: hidraw or hidapi (default: hidraw on Linux)")
	f.StringVar(&o.color, "set-color", "", "colour: a name (red, yellow, ...), off, #rrggbb or rrggbb")
	f.BoolVar(&o.off, "off", false, "turn the LEDs off")
	f.IntVar(&o.index, "index", 0, "LED index (Nano: 0 and 1)")
	f.IntVar(&o.channel, "channel", 0, "channel, 0-2 (BlinkStick Pro)")
	f.IntVar(&o.limit, "limit", 100, "brightness limit in percent, 0-100")
	f.IntVar(&o.limit, "brightness", 100, "alias of --limit")
	f.BoolVar(&o.blink, "blink", false, "blink the colour (see --delay, --repeats)")
	f.BoolVar(&o.pulse, "pulse", false, "pulse the colour, fading in and out (see --duration, --repeats)")
	f.IntVar(&o.repeats, "repeats", 1, "number of blinks or pulses; 0 repeats until interrupted")
	f.IntVar(&o.duration, "duration", 1000, "pulse fade time in milliseconds, each way")
	f.IntVar(&o.delay, "delay", 500, "blink on and off time in milliseconds")
	return cmd
}

// check validates the flags before anything touches a device, so a bad
// command line changes nothing.
func (o *ledOptions) check() (blinkstick.Color, error) {
	if o.limit < 0 || o.limit > 100 {
		return blinkstick.Off, usagef("--limit %d is out of range: give a percentage from 0 to 100", o.limit)
	}
	if o.index < 0 || o.index > 255 {
		return blinkstick.Off, usagef("--index %d is out of range: LEDs are numbered from 0", o.index)
	}
	if o.channel < 0 || o.channel > 2 {
		return blinkstick.Off, usagef("--channel %d is out of range: channels are 0, 1 and 2", o.channel)
	}
	if o.blink && o.pulse {
		return blinkstick.Off, usagef("--blink and --pulse exclude each other: choose one")
	}
	if o.repeats < 0 {
		return blinkstick.Off, usagef("--repeats %d is negative: give a count, or 0 to repeat until interrupted", o.repeats)
	}
	if o.duration <= 0 || o.delay <= 0 {
		return blinkstick.Off, usagef("--duration and --delay are milliseconds and must be positive")
	}
	if o.list {
		if o.color != "" || o.off || o.blink || o.pulse {
			return blinkstick.Off, usagef("--list only lists: drop the colour, --off, --blink and --pulse")
		}
		return blinkstick.Off, nil
	}
	switch {
	case o.off && o.color != "":
		return blinkstick.Off, usagef("--off and a colour exclude each other: choose one")
	case o.off:
		if o.blink || o.pulse {
			return blinkstick.Off, usagef("--off cannot blink or pulse: give a colour")
		}
		return blinkstick.Off, nil
	case o.color == "":
		return blinkstick.Off, usagef("nothing to do: give a colour (--set-color red), --off or --list")
	}
	c, err := blinkstick.ParseColor(o.color)
	if err != nil {
		return blinkstick.Off, usagef("%v", err)
	}
	return c, nil
}

func runLED(ctx context.Context, a *app, o *ledOptions, ledChosen bool) error {
	c, err := o.check()
	if err != nil {
		return err
	}
	infos, err := blinkstick.List(ctx, &blinkstick.ListOptions{Backend: o.backend, Logger: a.log})
	if err != nil {
		return err
	}
	if o.list {
		return printSticks(a, infos)
	}
	var targets []blinkstick.Info
	for _, in := range infos {
		if o.serial == "" || in.Serial == o.serial {
			targets = append(targets, in)
		}
	}
	if len(targets) == 0 {
		if o.serial != "" {
			return fmt.Errorf("%w with serial %s: %d other stick(s) plugged in; see extdrive led --list", blinkstick.ErrNotFound, o.serial, len(infos))
		}
		return fmt.Errorf("%w: plug one in, or check that the hidraw module is loaded", blinkstick.ErrNotFound)
	}
	// Check the LED exists on every target before lighting any, so a
	// bad --index fails without half the sticks changed.
	for _, in := range targets {
		if err := checkLEDTarget(in, o); err != nil {
			return err
		}
	}
	// Open every target before lighting any, for the same reason: a stick
	// this user may not open fails the command with the others untouched.
	sticks := make([]*blinkstick.Stick, 0, len(targets))
	defer func() {
		for _, s := range sticks {
			s.Close()
		}
	}()
	for _, in := range targets {
		s, err := blinkstick.Open(ctx, &blinkstick.OpenOptions{Path: in.Path, Backend: o.backend, Logger: a.log})
		if err != nil {
			return err
		}
		sticks = append(sticks, s)
	}
	for _, s := range sticks {
		if err := driveStick(ctx, a, o, s, c, ledChosen); err != nil {
			return err
		}
	}
	return nil
}

func checkLEDTarget(in blinkstick.Info, o *ledOptions) error {
	if in.Variant == blinkstick.VariantUnknown {
		return nil
	}
	if o.index >= in.LEDs {
		return fmt.Errorf("%w: --index %d: %s %s has %d LED(s), index 0-%d", blinkstick.ErrInvalidArgument, o.index, in.Variant, in.Serial, in.LEDs, in.LEDs-1)
	}
	return nil
}

func driveStick(ctx context.Context, a *app, o *ledOptions, s *blinkstick.Stick, c blinkstick.Color, ledChosen bool) error {
	in := s.Info()
	if err := s.SetLimit(o.limit); err != nil {
		return err
	}
	p := blinkstick.Pattern{Kind: blinkstick.Steady, Color: c, Channel: o.channel, Index: o.index, Repeats: o.repeats}
	switch {
	case o.off && !ledChosen:
		p.All = true
	case o.blink:
		p.Kind, p.Period = blinkstick.Blink, time.Duration(o.delay)*time.Millisecond
	case o.pulse:
		p.Kind, p.Period = blinkstick.Pulse, time.Duration(o.duration)*time.Millisecond
	}
	a.log.Debug("led", "serial", in.Serial, "pattern", p.Kind.String(), "color", c.String(), "limit", o.limit, "backend", s.Backend())
	err := s.Play(ctx, p)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted by the user: the last colour stays, as asked
	}
	return err
}

func printSticks(a *app, infos []blinkstick.Info) error {
	if len(infos) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERIAL\tVARIANT\tLEDS\tBACKEND\tDEVICE")
	for _, in := range infos {
		serial := in.Serial
		if serial == "" {
			serial = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", serial, strings.TrimSpace(in.Variant.String()), in.LEDs, in.Backend, in.Path)
	}
	return w.Flush()
}
