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

func policy(d *config.Drive) luksdrive.MountPolicy {
	return luksdrive.MountPolicy{Sync: d.Sync, NoAtime: *d.NoAtime, NoDirAtime: *d.NoDirAtime}
}

func (defaultOps) ensure(ctx context.Context, d *config.Drive, passphrase []byte, log *slog.Logger) (string, error) {
	dev, err := luksdrive.Find(ctx, d.Spec(), &luksdrive.FindOptions{Logger: log})
	if err != nil {
		return "", err
	}
	key, _, err := d.UnlockKey()
	if err != nil {
		return "", err
	}
	if passphrase != nil {
		// The job owns passphrase and wipes it after ensure returns.
		key = luksdrive.Key{Passphrase: passphrase, Slot: key.Slot}
	}
	m, err := luksdrive.Unlock(ctx, dev, &luksdrive.UnlockOptions{Key: key, Name: d.MappingName(), Logger: log})
	if err != nil {
		return "", err
	}
	// Idempotent: a drive left mounted by an interrupted run (with the
	// right options) is used as it is.
	if err := luksdrive.CheckMount(d.MountPoint, policy(d)); err == nil {
		return d.MountPoint, nil
	}
	if err := luksdrive.Mount(ctx, m.Path, d.MountPoint, &luksdrive.MountOptions{Policy: policy(d), Create: true, Logger: log}); err != nil {
		return "", err
	}
	return d.MountPoint, nil
}

func (defaultOps) release(ctx context.Context, d *config.Drive, log *slog.Logger) error {
	if err := luksdrive.Unmount(ctx, d.MountPoint, &luksdrive.UnmountOptions{Logger: log}); err != nil && !errors.Is(err, luksdrive.ErrNotMounted) {
		return err
	}
	if err := luksdrive.Lock(ctx, d.MappingName()); err != nil && !errors.Is(err, luksdrive.ErrNoDevice) {
		return err
	}
	return nil
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
		log.Info("drive spun down", "disk", disk, "method", m)
	}
	return errors.Join(errs...)
}
