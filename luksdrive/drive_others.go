//go:build !linux

package luksdrive

func mountedMapping(target string) (string, error) { return "", errMountOS }

func sameMount(device, target string) bool { return false }

func mountsOfMapping(name string) []string { return nil }
