package blinkstick

import (
	"strconv"
	"strings"
)

// hidUevent is what the HID device's uevent says about it.
type hidUevent struct {
	bus, vendor, product uint32
	name, uniq, phys     string
}

// parseHIDUevent reads KEY=value lines such as
//
//	HID_ID=0003:000020A0:000041E5
//	HID_NAME=Agile Innovative Ltd BlinkStick
//	HID_UNIQ=BS012345-3.1
//
// Unknown keys and malformed lines are skipped: sysfs grows keys over
// kernel versions and one odd line must not hide the stick.
func parseHIDUevent(s string) hidUevent {
	var u hidUevent
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "HID_ID":
			parts := strings.Split(v, ":")
			if len(parts) != 3 {
				continue
			}
			var n [3]uint64
			bad := false
			for i, p := range parts {
				x, err := strconv.ParseUint(p, 16, 32)
				if err != nil {
					bad = true
					break
				}
				n[i] = x
			}
			if !bad {
				u.bus, u.vendor, u.product = uint32(n[0]), uint32(n[1]), uint32(n[2])
			}
		case "HID_NAME":
			u.name = v
		case "HID_UNIQ":
			u.uniq = v
		case "HID_PHYS":
			u.phys = v
		}
	}
	return u
}
