package rotate

import (
	"context"
	"errors"
	"log/slog"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/spindown"
)

// defaultOps drives the real kernel through package luksdrive.
type defaultOps struct{}

func (defaultOps) present(ctx context.Context, d *config.Drive) bool {
	_, err := luksdrive.Find(ctx, d.Spec(), nil)
	return err == nil
}

func (defaultOps) ensure(ctx context.Context, d *config.Drive, passphrase []byte, log *slog.Logger) (string, error) {
	ld, err := d.LuksDrive()
	if err != nil {
		return "", err
	}
	if passphrase != nil {
		// The job owns passphrase and wipes it after ensure returns.
		ld.Key = luksdrive.Key{Passphrase: passphrase, Slot: ld.Key.Slot}
	}
	// Idempotent: a drive left unlocked or mounted by an interrupted run
	// is taken as it is (if its mount has the policy).
	st, err := luksdrive.Ensure(ctx, ld, &luksdrive.EnsureOptions{CreateMountPoint: true, Logger: log})
	if err != nil {
		return "", err
	}
	return st.MountPoint, nil
}

func (defaultOps) release(ctx context.Context, d *config.Drive, log *slog.Logger) error {
	ld, err := d.LuksDrive()
	if err != nil {
		return err
	}
	// Release finds the mapping through the mount point, so it also
	// cleans up after a drive that was pulled mid-copy.
	return luksdrive.Release(ctx, ld, &luksdrive.ReleaseOptions{Logger: log})
}

func (defaultOps) spindown(ctx context.Context, d *config.Drive, log *slog.Logger) error {
	dev, err := luksdrive.Find(ctx, d.Spec(), nil)
	if err != nil {
		return err
	}
	disks, err := spindown.Resolve(dev)
	if err != nil {
		return err
	}
	var errs []error
	for _, disk := range disks {
		m, err := disk.StandbyNow(ctx, &spindown.Options{Logger: log})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("drive spun down", "disk", disk.Name, "method", m)
	}
	return errors.Join(errs...)
}
