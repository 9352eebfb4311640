package main

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/spf13/cobra"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/probe"
	"github.com/extdrive/extdrive/luksdrive/provision"
	"github.com/extdrive/extdrive/luksdrive/rotate"
	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

// demoTemplate is the configuration the demo writes, with the real UUIDs
// and paths filled in.
//
//go:embed demo.toml
var demoTemplate string

// demoParams fill demoTemplate.
type demoParams struct {
	StateDir, LogDir, Source string
	UUIDA, UUIDB             string
	KeyA, KeyB               string // "PATH:UUID=…" on the key stick
	MountA, MountB           string
	LED                      bool
}

// renderDemoConfig fills the embedded template.
func renderDemoConfig(p demoParams) ([]byte, error) {
	t, err := template.New("demo.toml").Option("missingkey=error").
		Funcs(template.FuncMap{"q": strconv.Quote}).Parse(demoTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

const (
	demoDriveSize = 64 << 20
	demoStickSize = 16 << 20
	demoFiles     = 300
)

func newDemoCmd(a *app) *cobra.Command {
	var dir string
	var keep, led bool
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--keep]",
		Short: "Run the whole rotation job on image files, to see what extdrive does",
		Long: `Demo runs the main job for real, on image files instead of USB drives: it
makes a small source tree, two 64 MiB backup drives and a key stick as
image files on loop devices, prepares the drives exactly as extdrive
prepare does (LUKS2, recovery passphrase, key file on the stick, ext4),
writes a configuration from a built-in template, then rotates: offsite-a
(due, copied, locked), status, offsite-a again (not due), a source file
changes, offsite-b (its turn, copied), status, and the snapshots found on
each drive. Everything it set up (mappings, mounts, loop devices, the work
directory unless --keep) is removed at the end, also on failure or Ctrl-C.

It needs root, device-mapper (dm-crypt), loop devices, cryptsetup, sfdisk
and mkfs.ext4. On a machine without device-mapper, bash .ci/demo runs it
inside the test VM.`,
		Args: wantArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), a, dir, keep, led)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "work directory, new or empty (default: a fresh temporary directory)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the work directory (images, config, logs, history) afterwards")
	cmd.Flags().BoolVar(&led, "led", false, "enable the BlinkStick LED in the demo configuration")
	return cmd
}

// demoTools are the programs the demo and provision.Prepare run, with the
// Debian package that has them.
var demoTools = []struct{ name, pkg string }{
	{"cryptsetup", "cryptsetup-bin"},
	{"losetup", "mount"},
	{"sfdisk", "fdisk"},
	{"mkfs.ext4", "e2fsprogs"},
}

// demoEnvError is a machine the demo cannot run on: its message says what
// is missing, and errors.Is finds the sentinel that picks the exit code.
type demoEnvError struct {
	err error
	msg string
}

func (e *demoEnvError) Error() string { return e.msg }
func (e *demoEnvError) Unwrap() error { return e.err }

// checkDemoEnv refuses, before anything is created, a machine the demo
// cannot run on, naming what is missing.
func checkDemoEnv() error {
	if runtime.GOOS != "linux" {
		return &demoEnvError{luksdrive.ErrUnsupported, "demo: needs Linux (device-mapper and loop devices), not " + runtime.GOOS}
	}
	for _, t := range demoTools {
		if _, err := exec.LookPath(t.name); err != nil {
			return &demoEnvError{luksdrive.ErrUnsupported, fmt.Sprintf("demo: needs %s, which is not in PATH; install it (Debian: apt-get install %s)", t.name, t.pkg)}
		}
	}
	if os.Geteuid() != 0 {
		return &demoEnvError{luksdrive.ErrPermission, "demo: needs root (it attaches loop devices and opens dm-crypt mappings); run it with sudo, or bash .ci/demo to run it inside the test VM"}
	}
	if !kernelHasMisc("/dev/mapper/control", "device-mapper") {
		return &demoEnvError{luksdrive.ErrNoDeviceMapper, "demo: this kernel has no device-mapper (try modprobe dm_crypt); bash .ci/demo runs the demo inside the test VM instead"}
	}
	if !kernelHasMisc("/dev/loop-control", "loop-control") {
		return &demoEnvError{luksdrive.ErrNoDeviceMapper, "demo: this kernel has no loop devices (try modprobe loop); bash .ci/demo runs the demo inside the test VM instead"}
	}
	return nil
}

// kernelHasMisc reports whether the kernel registered the misc device
// name. Opening node first makes the kernel load the module on demand,
// as it does for cryptsetup; a node alone proves nothing (devtmpfs and
// kmod static-nodes create it for modules that may be absent).
func kernelHasMisc(node, name string) bool {
	if f, err := os.OpenFile(node, os.O_RDWR, 0); err == nil {
		f.Close()
	}
	b, err := os.ReadFile("/proc/misc")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == name {
			return true
		}
	}
	return false
}

// demo is one run: what it has set up, so that cleanup undoes exactly that.
type demo struct {
	a       *app
	dir     string
	ownsDir bool // created by the demo: removed unless --keep
	step    int
	loops   []string // attached loop devices, in attach order
	exe     string
	cfgPath string
	// log is for the library calls made in this process; its lines would
	// repeat the demo's own, so it shows only warnings unless --verbose.
	log *slog.Logger
}

func runDemo(ctx context.Context, a *app, dir string, keep, led bool) (err error) {
	if dir != "" {
		if !filepath.IsAbs(dir) {
			if dir, err = filepath.Abs(dir); err != nil {
				return usagef("--dir: %v", err)
			}
		}
		if ents, rerr := os.ReadDir(dir); rerr == nil && len(ents) > 0 {
			return usagef("--dir %s is not empty; give a new or empty directory", dir)
		} else if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return usagef("--dir %s: %v", dir, rerr)
		}
	}
	if err := checkDemoEnv(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	d := &demo{a: a, exe: exe, log: a.log}
	if !a.verbose {
		d.log = newLogger(a.stderr, false, true)
	}
	if dir == "" {
		if d.dir, err = os.MkdirTemp("", "extdrive-demo-"); err != nil {
			return err
		}
		d.ownsDir = true
	} else {
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			d.ownsDir = true
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		d.dir = dir
	}
	defer func() {
		// Cleanup must run to the end even after Ctrl-C cancelled ctx.
		err = errors.Join(err, d.cleanup(context.WithoutCancel(ctx), keep))
		if err == nil {
			fmt.Fprintln(a.stdout, "\nDone. On your machine: extdrive prepare --name NAME --key-stick LABEL=… /dev/sdX for each drive,")
			fmt.Fprintln(a.stdout, "add your [[source]] directories to the config, then extdrive install to run the job on insertion.")
		}
	}()
	return d.run(ctx, led)
}

func (d *demo) heading(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.a.stdout, "\n== %d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.a.stdout, "   "+format+"\n", args...)
}

func (d *demo) path(elem ...string) string {
	return filepath.Join(append([]string{d.dir}, elem...)...)
}

func (d *demo) run(ctx context.Context, led bool) error {
	d.heading("Work directory %s", d.dir)
	d.say("everything below lives here; the demo removes it at the end (--keep to look at it)")

	src := d.path("source", "documents")
	d.heading("A source tree to back up: %s", src)
	n, err := makeDemoTree(src)
	if err != nil {
		return err
	}
	d.say("%d regular files in 10 folders, a symlink, a hard link and a 8 MiB sparse file", n)

	d.heading("Image files on loop devices: two %s backup drives and a %s key stick", config.Size(demoDriveSize).Human(), config.Size(demoStickSize).Human())
	var devs [3]string
	for i, img := range []struct {
		name string
		size int64
	}{{"offsite-a.img", demoDriveSize}, {"offsite-b.img", demoDriveSize}, {"keystick.img", demoStickSize}} {
		p := d.path("images", img.name)
		if err := makeImage(p, img.size); err != nil {
			return err
		}
		if i == 2 {
			// The stick is a bare filesystem like most USB sticks' "superfloppy"
			// layout; ext4 because it is in every kernel (FAT needs codepages).
			if _, err := d.cmd(ctx, "mkfs.ext4", "-q", "-F", "-L", "DEMOKEYS", p); err != nil {
				return err
			}
		}
		if devs[i], err = d.attach(ctx, p); err != nil {
			return err
		}
		d.say("%s -> %s", p, devs[i])
	}
	stick, err := probe.Device(devs[2])
	if err != nil {
		return err
	}
	d.say("key stick: ext4 labelled %s, UUID %s", stick.Label, stick.UUID)

	pass, err := demoPassphrase()
	if err != nil {
		return err
	}
	// The demo owns the recovery passphrase; provision only reads it.
	defer clear(pass)
	prepared := map[string]*provision.Prepared{}
	for i, name := range []string{"offsite-a", "offsite-b"} {
		d.heading("Preparing %s on %s, as extdrive prepare --name %s --key-stick UUID=%s %s does", name, devs[i], name, stick.UUID, devs[i])
		if i == 0 {
			d.say("recovery passphrase: %s (on a real drive you choose it and keep it away from the drive)", pass)
			d.say("key derivation: pbkdf2 with 1000 iterations so the demo is quick; real drives get cryptsetup's benchmark")
		}
		disk := filepath.Base(devs[i])
		res, err := provision.Prepare(ctx, devs[i], &provision.PrepareOptions{
			Name: name, Passphrase: pass, KeyStick: "UUID=" + stick.UUID,
			HeaderDir: d.path("headers"), MinSize: 32 << 20,
			KDF:    provision.KDF{Type: "pbkdf2", Iterations: 1000},
			Logger: d.log,
			Confirm: func(info *provision.DeviceInfo) error {
				if info.Name != disk {
					return fmt.Errorf("%w: %s is %s, not the loop device the demo attached", provision.ErrNotConfirmed, devs[i], info.Name)
				}
				return nil
			},
			OnStep:    func(s string) { d.say("--> %s", s) },
			OnCommand: func(argv []string) { d.say("  + %s", strings.Join(argv, " ")) },
		})
		if err != nil {
			return err
		}
		prepared[name] = res
		d.say("%s ready: %s, LUKS UUID %s; keyslot %d recovery passphrase, keyslot %d key file %s",
			name, res.Partition, res.UUID, res.PassphraseSlot, res.KeySlot, res.Key)
	}

	d.cfgPath = d.path("config.toml")
	d.heading("Configuration from the built-in template: %s", d.cfgPath)
	text, err := renderDemoConfig(demoParams{
		StateDir: d.path("state"), LogDir: d.path("log"), Source: src,
		UUIDA: prepared["offsite-a"].UUID, UUIDB: prepared["offsite-b"].UUID,
		KeyA: prepared["offsite-a"].Key, KeyB: prepared["offsite-b"].Key,
		MountA: d.path("mnt", "offsite-a"), MountB: d.path("mnt", "offsite-b"),
		LED: led,
	})
	if err != nil {
		return err
	}
	if err := config.WriteFileAtomic(d.cfgPath, text, 0o600); err != nil {
		return err
	}
	// config check prints the whole effective configuration; the file
	// itself is the interesting part, and --keep keeps it.
	if _, err := d.extdriveTo(ctx, io.Discard, "config", "check"); err != nil {
		return err
	}
	d.say("$ extdrive config check: valid (two drives, one source, snapshot mode, monthly, alternate order)")

	d.heading("$ extdrive rotate offsite-a   (no copy yet, so it is due: copy, then lock)")
	if _, err := d.extdrive(ctx, "rotate", "offsite-a"); err != nil {
		return err
	}
	if err := d.status(ctx); err != nil {
		return err
	}

	d.heading("$ extdrive rotate offsite-a   (again: it has this month's copy, so it is not due)")
	if err := d.expectExit(ctx, exitNotDue, "rotate", "offsite-a"); err != nil {
		return err
	}

	changed := filepath.Join(src, "notes.txt")
	d.heading("A source file changes: %s", changed)
	if err := os.WriteFile(changed, []byte("Changed after offsite-a went off-site.\n"), 0o644); err != nil {
		return err
	}
	d.say("offsite-a's snapshot keeps the old text; offsite-b gets the new one")

	d.heading("$ extdrive rotate offsite-b   (its turn: offsite-b has no copy yet)")
	if _, err := d.extdrive(ctx, "rotate", "offsite-b"); err != nil {
		return err
	}
	if err := d.status(ctx); err != nil {
		return err
	}

	cfg, err := config.Load(d.cfgPath)
	if err != nil {
		return err
	}
	for i := range cfg.Drives {
		if err := d.showSnapshots(ctx, cfg, &cfg.Drives[i]); err != nil {
			return err
		}
	}
	return nil
}

// status is extdrive status: each drive's device state (present, locked,
// mounted) and the rotation (last good copy, who is due next).
func (d *demo) status(ctx context.Context) error {
	d.heading("$ extdrive status")
	_, err := d.extdrive(ctx, "status")
	return err
}

// showSnapshots unlocks the drive read-only on a private mount point and
// lists what is really on it: the snapshot directories and the run
// history the job keeps on the drive.
func (d *demo) showSnapshots(ctx context.Context, cfg *config.Config, cd *config.Drive) error {
	d.heading("Snapshots on %s (unlocked read-only with the key stick)", cd.Name)
	ld, err := cd.LuksDrive()
	if err != nil {
		return err
	}
	ld.ReadOnly = true
	ld.MountPoint = d.path("inspect", cd.Name)
	st, err := luksdrive.Ensure(ctx, ld, &luksdrive.EnsureOptions{CreateMountPoint: true, Logger: d.log})
	if err != nil {
		return err
	}
	listErr := d.listSnapshots(cfg, st.MountPoint)
	relErr := luksdrive.Release(context.WithoutCancel(ctx), ld, &luksdrive.ReleaseOptions{Logger: d.log})
	if relErr == nil {
		d.say("%s locked again", cd.Name)
	}
	return errors.Join(listErr, relErr)
}

func (d *demo) listSnapshots(cfg *config.Config, mnt string) error {
	for _, s := range cfg.Sources {
		root := filepath.Join(mnt, cfg.Copy.Dir, s.Name)
		ents, err := os.ReadDir(root)
		if err != nil {
			return err
		}
		found := 0
		for _, e := range ents {
			if _, _, ok := treecopy.ParseSnapshotName(e.Name()); !ok || !e.IsDir() {
				continue
			}
			found++
			notes, _ := os.ReadFile(filepath.Join(root, e.Name(), "notes.txt"))
			d.say("%s/%s/%s   notes.txt: %q", cfg.Copy.Dir, s.Name, e.Name(), strings.TrimSpace(string(notes)))
		}
		if found == 0 {
			d.say("%s/%s: no snapshot", cfg.Copy.Dir, s.Name)
		}
	}
	h, err := rotate.ReadHistory(rotate.DriveHistoryPath(mnt))
	if err != nil {
		return err
	}
	rel, _ := filepath.Rel(mnt, rotate.DriveHistoryPath(mnt))
	d.say("run history kept on the drive (%s):", rel)
	for _, r := range h.Runs {
		result := "ok"
		if !r.OK {
			result = "failed: " + r.Error
		}
		d.say("  %s  %s  %s", r.ID, r.Snapshot, result)
	}
	return nil
}

// extdrive runs this same binary with the demo's config, as the user
// would type it, its output going straight to the user. It returns the
// exit code; a non-zero one is an error carrying that code.
func (d *demo) extdrive(ctx context.Context, args ...string) (int, error) {
	return d.extdriveTo(ctx, d.a.stdout, args...)
}

// extdriveTo is extdrive with the child's stdout going to stdout.
func (d *demo) extdriveTo(ctx context.Context, stdout io.Writer, args ...string) (int, error) {
	argv := []string{"--config", d.cfgPath}
	switch {
	case d.a.verbose:
		argv = append(argv, "--verbose")
	case d.a.quiet:
		argv = append(argv, "--quiet")
	}
	argv = append(argv, args...)
	c := exec.CommandContext(ctx, d.exe, argv...)
	c.Stdout, c.Stderr = stdout, d.a.stderr
	// The demo is the user here: the child must not think it is already
	// the job's private-namespace re-exec.
	c.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, rotate.PrivateNamespaceEnv+"=") })
	// On Ctrl-C the job gets SIGTERM and time to lock the drive.
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = time.Minute
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return ee.ExitCode(), demoStepError{args: strings.Join(args, " "), code: ee.ExitCode()}
	}
	return 0, err
}

// expectExit runs extdrive and requires exit code want.
func (d *demo) expectExit(ctx context.Context, want int, args ...string) error {
	code, err := d.extdrive(ctx, args...)
	if code == want {
		d.say("exit %d, as expected: the job stops before touching the drive", code)
		return nil
	}
	if err == nil {
		err = fmt.Errorf("extdrive %s succeeded; the demo expected exit %d", strings.Join(args, " "), want)
	}
	return err
}

// demoStepError is a failed extdrive run inside the demo; its exit code
// becomes the demo's.
type demoStepError struct {
	args string
	code int
}

func (e demoStepError) Error() string {
	return fmt.Sprintf("demo: extdrive %s failed with exit code %d (reason above)", e.args, e.code)
}

func (e demoStepError) ExitCode() int { return e.code }

// cmd runs a helper program, showing it; its output is returned and shown
// only when it fails.
func (d *demo) cmd(ctx context.Context, name string, args ...string) (string, error) {
	d.say("+ %s %s", name, strings.Join(args, " "))
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// attach puts img on a free loop device with partition scanning, as a
// USB drive appears with its partitions.
func (d *demo) attach(ctx context.Context, img string) (string, error) {
	out, err := d.cmd(ctx, "losetup", "--find", "--show", "--partscan", img)
	if err != nil {
		return "", fmt.Errorf("%w: %v", luksdrive.ErrNoDeviceMapper, err)
	}
	d.loops = append(d.loops, out)
	return out, nil
}

// cleanup undoes what the demo set up, innermost first: mounts under the
// work directory, mappings on its loop devices, the loop devices, and the
// work directory unless keep. It carries on past failures and reports
// them all.
func (d *demo) cleanup(ctx context.Context, keep bool) error {
	d.heading("Cleaning up")
	var errs []error
	mounts, _ := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != d.dir && !strings.HasPrefix(m.Mountpoint, d.dir+"/"), false
	})
	slices.SortFunc(mounts, func(x, y *mountinfo.Info) int { return len(y.Mountpoint) - len(x.Mountpoint) })
	for _, m := range mounts {
		if err := luksdrive.Unmount(ctx, m.Mountpoint, &luksdrive.UnmountOptions{Logger: d.log}); err != nil {
			errs = append(errs, err)
			continue
		}
		d.say("unmounted %s", m.Mountpoint)
	}
	for _, loop := range slices.Backward(d.loops) {
		for _, dev := range append(partitionsOf(loop), loop) {
			m, err := luksdrive.OpenMappingFor(dev)
			if err != nil || m == nil {
				continue
			}
			if err := luksdrive.Lock(ctx, m.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			d.say("closed mapping %s", m.Name)
		}
	}
	for _, loop := range slices.Backward(d.loops) {
		if out, err := exec.CommandContext(ctx, "losetup", "--detach", loop).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("losetup --detach %s: %v: %s", loop, err, strings.TrimSpace(string(out))))
			continue
		}
		d.say("detached %s", loop)
	}
	switch {
	case keep:
		d.say("kept %s: images, config.toml, state/history.json, log/ (the drives are locked and detached)", d.dir)
	case len(errs) > 0:
		d.say("kept %s because cleanup failed above; remove it once that is fixed", d.dir)
	case d.ownsDir:
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, err)
		} else {
			d.say("removed %s", d.dir)
		}
	default:
		ents, _ := os.ReadDir(d.dir)
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(d.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
		d.say("emptied %s", d.dir)
	}
	if len(errs) > 0 {
		return fmt.Errorf("demo cleanup: %w", errors.Join(errs...))
	}
	return nil
}

// partitionsOf lists the /dev nodes of a disk's partitions from sysfs.
func partitionsOf(disk string) []string {
	name := filepath.Base(disk)
	ents, _ := os.ReadDir(filepath.Join("/sys/class/block", name))
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name) {
			if _, err := os.Stat(filepath.Join("/sys/class/block", name, e.Name(), "partition")); err == nil {
				out = append(out, "/dev/"+e.Name())
			}
		}
	}
	return out
}

func makeImage(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return errors.Join(f.Truncate(size), f.Close())
}

// makeDemoTree writes the source tree: text files in folders, a symlink,
// a hard link and a sparse file, the cases a backup copy gets wrong. It
// returns the number of regular files.
func makeDemoTree(root string) (int, error) {
	n := 0
	write := func(rel string, data []byte) error {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		n++
		return os.WriteFile(p, data, 0o644)
	}
	if err := write("notes.txt", []byte("Written before offsite-a's first copy.\n")); err != nil {
		return n, err
	}
	for i := 1; n < demoFiles; i++ {
		rel := fmt.Sprintf("year-%d/letter-%03d.txt", 2016+i%10, i)
		body := strings.Repeat(fmt.Sprintf("Letter %d, line of text for the backup demo.\n", i), 1+i%40)
		if err := write(rel, []byte(body)); err != nil {
			return n, err
		}
	}
	if err := write("scratch.tmp", []byte("excluded by the config's *.tmp pattern\n")); err != nil {
		return n, err
	}
	if err := os.Symlink("year-2017/letter-001.txt", filepath.Join(root, "first-letter")); err != nil {
		return n, err
	}
	if err := os.Link(filepath.Join(root, "notes.txt"), filepath.Join(root, "notes-hardlink.txt")); err != nil {
		return n, err
	}
	f, err := os.Create(filepath.Join(root, "disk.sparse"))
	if err != nil {
		return n, err
	}
	n++
	// Data only at the start and the end; the 8 MiB between is a hole.
	_, err1 := f.WriteAt([]byte("start"), 0)
	_, err2 := f.WriteAt([]byte("end"), 8<<20-3)
	if err := errors.Join(err1, err2, f.Close()); err != nil {
		return n, err
	}
	return n, nil
}

// demoPassphrase makes the demo's recovery passphrase. The caller owns it.
func demoPassphrase() ([]byte, error) {
	var b [8]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return nil, err
	}
	p := make([]byte, len("demo-")+hex.EncodedLen(len(b)))
	copy(p, "demo-")
	hex.Encode(p[len("demo-"):], b[:])
	clear(b[:])
	return p, nil
}
