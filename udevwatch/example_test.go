package udevwatch_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/extdrive/extdrive/udevwatch"
)

func ExampleDispatcher() {
	d, err := udevwatch.NewDispatcher(&udevwatch.DispatcherOptions{
		Targets: []udevwatch.Target{
			{Name: "offsite", Match: udevwatch.Matcher{LUKSUUID: "9a1c5d0e-6f3b-4c2a-8e7d-1b2c3d4e5f60"}},
		},
		OnInsert: func(ctx context.Context, drive string, ev udevwatch.Event) error {
			fmt.Println("backing up to", drive, "on", ev.DevNode)
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	luks := udevwatch.FS{Type: "crypto_LUKS", UUID: "9a1c5d0e-6f3b-4c2a-8e7d-1b2c3d4e5f60"}
	d.Handle(ctx, udevwatch.Event{Action: udevwatch.Added, DevNode: "/dev/sdb", FS: luks, LUKSUUID: luks.UUID})
	d.Handle(ctx, udevwatch.Event{Action: udevwatch.Added, DevNode: "/dev/sdc"}) // not configured
	d.Wait()
	// Output: backing up to offsite on /dev/sdb
}

func ExampleWatcher() {
	w, err := udevwatch.New(&udevwatch.Options{
		Match: []udevwatch.Matcher{{FSType: "crypto_LUKS"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = w.Run(ctx, func(ev udevwatch.Event) {
		fmt.Println(ev.Action, ev.DevNode, ev.LUKSUUID)
	})
	fmt.Println(err)
}
