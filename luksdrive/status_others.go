//go:build !linux

package luksdrive

func mountStatus(d *Drive, s *Status) error { return errMountOS }
