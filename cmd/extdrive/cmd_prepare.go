package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/probe"
	"github.com/extdrive/extdrive/luksdrive/provision"
)

type prepareFlags struct {
	name, label    string
	keyStick       string
	formatStick    string
	keyFile        string
	headerDir      string
	mountPoint     string
	passphraseFile string
	yes, noConfig  bool
	minSize        sizeFlag
	kdf            kdfFlags
}

// kdfFlags are cryptsetup's --pbkdf* options, for slow boards and tests.
type kdfFlags struct {
	typ        string
	iterations int
	memory     int
}

func (k *kdfFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&k.typ, "pbkdf", "", "key derivation for new keyslots: argon2id, argon2i or pbkdf2 (default: cryptsetup's)")
	fl.IntVar(&k.iterations, "pbkdf-force-iterations", 0, "fixed KDF iterations instead of cryptsetup's benchmark")
	fl.IntVar(&k.memory, "pbkdf-memory", 0, "argon2 memory cost in KiB (default: cryptsetup's)")
}

func (k *kdfFlags) kdf() (provision.KDF, error) {
	switch k.typ {
	case "", "argon2id", "argon2i", "pbkdf2":
	default:
		return provision.KDF{}, usagef("--pbkdf %q: want argon2id, argon2i or pbkdf2", k.typ)
	}
	if k.iterations < 0 || k.memory < 0 {
		return provision.KDF{}, usagef("--pbkdf-force-iterations and --pbkdf-memory must not be negative")
	}
	return provision.KDF{Type: k.typ, Iterations: k.iterations, MemoryKiB: k.memory}, nil
}

const defaultHeaderDir = "/var/lib/extdrive/headers"

func newPrepareCmd(a *app) *cobra.Command {
	f := &prepareFlags{minSize: sizeFlag(provision.DefaultMinSize)}
	cmd := &cobra.Command{
		Use:   "prepare [flags] DISK",
		Short: "Erase a disk and make it an encrypted backup drive with a key stick",
		Long: `Prepare erases DISK (a whole disk, e.g. /dev/sdb) and sets it up as a backup
drive: one GPT partition; LUKS2 with your recovery passphrase in keyslot 0;
a new random 4 KiB key file on the key stick (--key-stick) or at an
absolute --key-file path, enrolled in keyslot 1 with a token naming the
slot and the stick; ext4 labelled --label; a LUKS header backup in
--header-dir; and the drive added to the configuration file.

Prepare refuses a disk that is mounted or has a mounted partition, holds
the running system, is part of an active mapping, or is smaller than
--min-size. It shows the disk's model, serial, size and contents and asks
you to type its name; --yes skips that question, for scripts. Each
command is shown before it runs; the first failure stops everything.`,
		Example: `  extdrive prepare --name offsite-A --key-stick LABEL=KEYS /dev/sdb
  extdrive prepare --name offsite-B --key-file /root/offsite-B.key --yes /dev/sdc < passphrase.txt`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrepare(cmd.Context(), a, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "drive name in the configuration (required)")
	fl.StringVar(&f.label, "label", "", "ext4 label, at most 16 bytes (default: the name)")
	fl.StringVar(&f.keyStick, "key-stick", "", "the key stick's filesystem: UUID=…, LABEL=… or /dev/…")
	fl.StringVar(&f.formatStick, "format-stick", "", "make an ext4 filesystem with this `LABEL` on a blank --key-stick /dev/… first")
	fl.StringVar(&f.keyFile, "key-file", "", "key file to create: path on the stick (default /extdrive/NAME.key), or an absolute host path without --key-stick")
	fl.StringVar(&f.headerDir, "header-dir", defaultHeaderDir, "directory for the LUKS header backup")
	fl.StringVar(&f.mountPoint, "mount-point", "", "mount point in the configuration (default /run/extdrive/NAME)")
	fl.StringVar(&f.passphraseFile, "passphrase-file", "", "read the recovery passphrase from this file")
	fl.BoolVar(&f.yes, "yes", false, "do not ask before erasing the disk")
	fl.BoolVar(&f.noConfig, "no-config", false, "do not add the drive to the configuration file")
	fl.Var(&f.minSize, "min-size", "refuse disks smaller than this (e.g. 1GiB, 64MiB)")
	f.kdf.add(cmd)
	return cmd
}

func (s *prepareFlags) validate() error {
	if s.name == "" {
		return usagef("--name is required: the drive's name in the configuration, e.g. --name offsite-A")
	}
	if s.keyStick == "" && s.keyFile == "" {
		return usagef("say where the key file goes: --key-stick LABEL=… (recommended) or --key-file /absolute/path")
	}
	if s.formatStick != "" && !strings.HasPrefix(s.keyStick, "/dev/") {
		return usagef("--format-stick needs --key-stick /dev/… (the blank stick has no UUID or label yet)")
	}
	if s.keyStick == "" && !filepath.IsAbs(s.keyFile) {
		return usagef("--key-file %q without --key-stick must be an absolute path on this host", s.keyFile)
	}
	if s.keyStick != "" && s.keyFile != "" && !strings.HasPrefix(s.keyFile, "/") {
		return usagef("--key-file %q: give the path from the root of the key stick, starting with /", s.keyFile)
	}
	return nil
}

func runPrepare(ctx context.Context, a *app, f *prepareFlags, disk string) error {
	if err := f.validate(); err != nil {
		return err
	}
	kdf, err := f.kdf.kdf()
	if err != nil {
		return err
	}
	if !f.noConfig {
		// Before the questions: a name clash or a broken config is found
		// now, not after the passphrase was typed. Prepare checks again.
		probe := config.Drive{Name: f.name, UUID: "00000000-0000-4000-8000-000000000000", Key: "/check.key"}
		if _, err := config.AddDrives(a.configPath, []config.Drive{probe}, &config.AddOptions{DryRun: true}); err != nil {
			return err
		}
	}
	info, err := provision.Inspect(ctx, disk, &provision.InspectOptions{MinSize: int64(f.minSize)})
	if err != nil {
		return err
	}
	describeDisk(a.stdout, info)
	if f.formatStick != "" {
		// The stick's checks run inside Prepare; show it as Prepare sees it.
		fmt.Fprintf(a.stdout, "The blank key stick %s gets a new ext4 filesystem labelled %s.\n", f.keyStick, f.formatStick)
	}
	var pass []byte
	if f.passphraseFile != "" {
		if pass, err = readPassphraseFile(f.passphraseFile); err != nil {
			return err
		}
	}
	if !f.yes {
		fmt.Fprintf(a.stdout, "All data on %s will be lost. Type %s to erase it: ", disk, info.Name)
		// Unbuffered: the passphrase may follow on the same pipe.
		b, _ := readLine(a.stdin, 4096)
		line := string(b)
		if !isTerminalIn(a) {
			fmt.Fprintln(a.stdout) // the answer came from a pipe: end the prompt's line
		}
		line = strings.TrimSpace(line)
		if line != info.Name && line != disk {
			clear(pass)
			return fmt.Errorf("%w: you typed %q, not %q; nothing was changed", provision.ErrNotConfirmed, line, info.Name)
		}
	}
	if pass == nil {
		if pass, err = readNewPassphrase(a, "Recovery passphrase for "+f.name); err != nil {
			return err
		}
	}
	// The command owns the passphrase; provision only reads it.
	defer clear(pass)

	opts := &provision.PrepareOptions{
		Name: f.name, Label: f.label, Passphrase: pass,
		KeyStick: f.keyStick, FormatStick: f.formatStick, KeyFile: f.keyFile, HeaderDir: f.headerDir,
		MountPoint: f.mountPoint, MinSize: int64(f.minSize), KDF: kdf, Logger: a.log,
		Confirm: func(now *provision.DeviceInfo) error {
			// Asked above; make sure it is still the same disk.
			if now.Stick != nil {
				describeDisk(a.stdout, now.Stick)
			}
			if now.Name != info.Name || now.Size != info.Size || now.Serial != info.Serial {
				return fmt.Errorf("%w: %s changed since it was shown (now %s, %d bytes); run again", provision.ErrNotConfirmed, disk, now.Name, now.Size)
			}
			return nil
		},
		OnStep:    func(s string) { fmt.Fprintf(a.stdout, "==> %s\n", s) },
		OnCommand: func(argv []string) { fmt.Fprintf(a.stdout, "+ %s\n", strings.Join(argv, " ")) },
	}
	if !f.noConfig {
		opts.ConfigPath = a.configPath
	}
	res, err := provision.Prepare(ctx, disk, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nDrive %q is ready: %s, LUKS UUID %s\n", f.name, res.Partition, res.UUID)
	fmt.Fprintf(a.stdout, "  keyslot %d: recovery passphrase (write it down; keep it away from the drive)\n", res.PassphraseSlot)
	fmt.Fprintf(a.stdout, "  keyslot %d: key file %s\n", res.KeySlot, res.Key)
	if hb := res.HeaderBackup; hb != nil {
		fmt.Fprintf(a.stdout, "  header backup: %s (sha256 %s, verified)\n", hb.File, hb.SHA256)
		fmt.Fprintf(a.stdout, "  Copy %s somewhere other than this drive and this host's disk.\n", filepath.Dir(hb.File))
	}
	if res.ConfigAdded {
		fmt.Fprintf(a.stdout, "  added to %s\n", a.configPath)
	}
	if res.NeedSource {
		fmt.Fprintf(a.stdout, "Now add your [[source]] directories to %s (see extdrive config check).\n", a.configPath)
	}
	return nil
}

func describeDisk(w io.Writer, d *provision.DeviceInfo) {
	model := strings.TrimSpace(d.Vendor + " " + d.Model)
	if model == "" {
		model = "unknown model"
	}
	serial := d.Serial
	if serial == "" {
		serial = "no serial"
	}
	fmt.Fprintf(w, "%s: %s, serial %s, %s (%d bytes)\n", d.Path, model, serial, config.Size(d.Size).Human(), d.Size)
	fmt.Fprintf(w, "  contents: %s\n", contents(d.Contents))
	for _, p := range d.Partitions {
		fmt.Fprintf(w, "  /dev/%s: %s, %s\n", p.Name, config.Size(p.Size).Human(), contents(p.Contents))
	}
}

func contents(r *probe.Result) string {
	if r == nil {
		return "nothing recognised (blank?)"
	}
	var parts []string
	if r.PTType != "" {
		parts = append(parts, fmt.Sprintf("%s partition table with %d partition(s)", r.PTType, len(r.Partitions)))
	}
	if r.Type != "" {
		s := r.Type
		if r.Label != "" {
			s += fmt.Sprintf(" labelled %q", r.Label)
		}
		if r.UUID != "" {
			s += " UUID " + r.UUID
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// readNewPassphrase asks for a new passphrase twice on a terminal, or
// reads one line from a pipe. The caller owns and wipes the result.
func readNewPassphrase(a *app, what string) ([]byte, error) {
	if isTerminalIn(a) {
		p, err := readPassphrase(a, what+": ")
		if err != nil {
			return nil, err
		}
		again, err := readPassphrase(a, "Again: ")
		if err != nil {
			clear(p)
			return nil, err
		}
		defer clear(again)
		if !bytes.Equal(p, again) {
			clear(p)
			return nil, usagef("the two passphrases differ; nothing was changed")
		}
		return p, nil
	}
	p, err := pipedPassphrase(a)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, usagef("empty passphrase on stdin; pipe the recovery passphrase, or use --passphrase-file")
	}
	return p, nil
}

// sizeFlag is a byte count flag in the config file's notation (1GiB, 64MiB).
type sizeFlag config.Size

func (s *sizeFlag) String() string { return config.Size(*s).String() }
func (s *sizeFlag) Type() string   { return "size" }
func (s *sizeFlag) Set(v string) error {
	return (*config.Size)(s).UnmarshalText([]byte(v))
}

func isTerminalIn(a *app) bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
