package provision

import (
	"log/slog"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/probe"
)

// DefaultMinSize is the floor below which Prepare refuses a disk: smaller
// than any real backup drive, larger than the SD cards, key sticks and
// card readers that get mistaken for one.
const DefaultMinSize = 1 << 30

// DeviceInfo describes a disk Prepare is about to erase, for the caller
// to show before it confirms.
type DeviceInfo struct {
	Path      string // as given
	Name      string // kernel name: sdb, loop0, nvme0n1
	Size      int64  // bytes
	Vendor    string
	Model     string
	Serial    string
	Removable bool
	// Contents is what the whole disk holds (partition table, filesystem,
	// LUKS); nil when nothing is recognised, as on a blank disk.
	Contents   *probe.Result
	Partitions []PartitionInfo
	// Stick is the blank key stick Prepare will also format
	// (PrepareOptions.FormatStick); nil otherwise.
	Stick *DeviceInfo
}

// PartitionInfo is one existing partition of the disk.
type PartitionInfo struct {
	Name     string
	Size     int64
	Contents *probe.Result // nil when nothing is recognised
}

// InspectOptions tunes Inspect. A nil *InspectOptions means the defaults.
type InspectOptions struct {
	// MinSize is the sanity floor in bytes; 0 means DefaultMinSize.
	MinSize int64
}

// PrepareOptions configures Prepare. Name, Passphrase, Confirm and one of
// KeyStick or an absolute KeyFile are required.
type PrepareOptions struct {
	// Name is the drive's name in the config (1-64 letters, digits, '.',
	// '_', '-'); it also names the GPT partition, the LUKS2 label and the
	// header backup file.
	Name string
	// Label is the ext4 label (at most 16 bytes); "" uses Name when it fits.
	Label string
	// Passphrase goes into the recovery keyslot (0). The caller owns it
	// and wipes it after Prepare returns; Prepare neither keeps nor
	// changes it.
	Passphrase []byte
	// KeyStick names the key stick's filesystem (UUID=…, LABEL=…, /dev/…)
	// as luksdrive.Find takes it. "" keeps the key file on the host.
	KeyStick string
	// FormatStick, when set, is the label of a new ext4 filesystem that
	// Prepare makes on KeyStick, which must then be the /dev path of a
	// blank whole device (no filesystem, no partition table). It passes
	// the same checks as the disk, and is shown to Confirm as
	// DeviceInfo.Stick.
	FormatStick string
	// KeyFile is the key file to create: a path from the root of the key
	// stick (default /extdrive/NAME.key), or an absolute host path when
	// KeyStick is empty. An existing file is never overwritten.
	KeyFile string
	// HeaderDir receives the LUKS header backup; "" skips it (the caller
	// is then responsible for one).
	HeaderDir string
	// ConfigPath is the config file the drive is added to; "" leaves the
	// config alone. It is checked before anything is written to the disk.
	ConfigPath string
	// MountPoint goes into the config entry; "" is the config's default.
	MountPoint string
	// MinSize is the sanity floor in bytes; 0 means DefaultMinSize.
	MinSize int64
	// KDF for both keyslots; the zero value is cryptsetup's benchmark.
	KDF KDF
	// StickTimeout bounds the wait for the key stick; 0 means 10 s.
	StickTimeout time.Duration
	// Confirm is called once every check has passed and before anything
	// is written, with what is on the disk now. Returning an error stops
	// Prepare with that error (wrap ErrNotConfirmed). Required, so that
	// no caller erases a disk by leaving it out.
	Confirm func(*DeviceInfo) error
	// OnStep is called as each step starts ("partition", "format", ...).
	OnStep func(step string)
	// OnCommand is called with each external command before it runs.
	OnCommand func(argv []string)
	// Logger receives debug lines; nil discards.
	Logger *slog.Logger
}

// Prepared is what Prepare made.
type Prepared struct {
	Device    string // the disk
	Partition string // its LUKS partition
	UUID      string // LUKS UUID
	// PassphraseSlot and KeySlot are the keyslots of the recovery
	// passphrase and of the key file.
	PassphraseSlot, KeySlot int
	// Token is the extdrive-keyfile token written for KeySlot.
	Token luksdrive.KeyfileToken
	// Key is the config's key value: "PATH:UUID=…" or a host path.
	Key string
	// HeaderBackup is nil when HeaderDir was empty.
	HeaderBackup *HeaderBackup
	// ConfigAdded reports whether the drive went into ConfigPath;
	// NeedSource that the file still has no [[source]].
	ConfigAdded, NeedSource bool
}
