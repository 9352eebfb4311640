package udevwatch

// OpError records what the watcher or dispatcher was doing and on which
// device or socket when it failed.
type OpError struct {
	Op   string // "listen", "watch", "scan", ...
	Path string // device node, sysfs path or "netlink udev"
	Err  error
}

func (e *OpError) Error() string {
	if e.Path == "" {
		return "udevwatch: " + e.Op + ": " + e.Err.Error()
	}
	return "udevwatch: " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }
