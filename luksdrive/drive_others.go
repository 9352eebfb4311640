//go:build !linux

package luksdrive

func mountedMapping(target string) (string, error) { return "", errMountOS }

func sameMount(device, target string) bool { return false }

// MountPoints is supported on Linux only; elsewhere it finds nothing.
func MountPoints(device string) []string { return nil }

func mappingExists(name string) bool { return false }
