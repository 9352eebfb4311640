package udevwatch

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// scanBlock lists the block devices present, from /sys/class/block and
// their uevent files, with udev's stored properties merged in when udev
// has processed them.
//
// go-udev's crawler walks all of /sys/devices and gives up on the first
// uevent file that vanishes mid-walk, which is exactly what happens when
// a drive is pulled during the scan; here such a device is skipped.
func scanBlock(sysDir, udevDataDir string) ([]Event, error) {
	classDir := filepath.Join(sysDir, "class", "block")
	ents, err := os.ReadDir(classDir)
	if err != nil {
		return nil, err
	}
	var (
		evs  []Event
		errs []error
	)
	devicesDir := filepath.Join(sysDir, "devices")
	for _, ent := range ents {
		real, err := filepath.EvalSymlinks(filepath.Join(classDir, ent.Name()))
		if err != nil {
			continue // removed while we looked
		}
		rel, err := filepath.Rel(devicesDir, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		devpath := "/devices/" + filepath.ToSlash(rel)
		data, err := os.ReadFile(filepath.Join(real, "uevent"))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		env := parseUeventFile(data)
		env["SUBSYSTEM"] = "block"
		env["DEVPATH"] = devpath
		if maj, min := env["MAJOR"], env["MINOR"]; udevDataDir != "" && maj != "" && min != "" {
			if db, err := os.ReadFile(filepath.Join(udevDataDir, "b"+maj+":"+min)); err == nil {
				for k, v := range parseUdevDB(db) {
					if _, ok := env[k]; !ok {
						env[k] = v
					}
				}
			}
		}
		ev, ok := eventFromEnv(devpath, env)
		if !ok {
			continue
		}
		ev.Source = SourceCrawl
		evs = append(evs, ev)
	}
	return evs, errors.Join(errs...)
}

// parseUeventFile reads a sysfs uevent file: KEY=VALUE lines.
func parseUeventFile(b []byte) map[string]string {
	env := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// parseUdevDB reads the properties ("E:KEY=VALUE" lines) of a udev
// database entry, /run/udev/data/b<major>:<minor>.
func parseUdevDB(b []byte) map[string]string {
	env := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "E:")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}
