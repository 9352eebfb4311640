package blinkstick

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHIDUevent(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want hidUevent
	}{
		{"usbhid BlinkStick", "DRIVER=hid-generic\nHID_ID=0003:000020A0:000041E5\nHID_NAME=Agile Innovative Ltd BlinkStick\nHID_PHYS=usb-0000:01:00.0-1.3/input0\nHID_UNIQ=BS012345-3.1\nMODALIAS=hid:b0003g0001v000020A0p000041E5\n",
			hidUevent{bus: 3, vendor: 0x20a0, product: 0x41e5, name: "Agile Innovative Ltd BlinkStick", uniq: "BS012345-3.1", phys: "usb-0000:01:00.0-1.3/input0"}},
		{"uhid emulator", "DRIVER=hid-generic\nHID_ID=0003:000020A0:000041E5\nHID_NAME=BlinkStick Nano\nHID_PHYS=blinksticktest/BS000001-3.1\nHID_UNIQ=BS000001-3.1\n",
			hidUevent{bus: 3, vendor: 0x20a0, product: 0x41e5, name: "BlinkStick Nano", uniq: "BS000001-3.1", phys: "blinksticktest/BS000001-3.1"}},
		{"keyboard", "HID_ID=0003:0000046D:0000C31C\nHID_NAME=Logitech USB Keyboard\nHID_UNIQ=\n",
			hidUevent{bus: 3, vendor: 0x046d, product: 0xc31c, name: "Logitech USB Keyboard"}},
		{"bad HID_ID ignored", "HID_ID=zz:1:2\nHID_NAME=x\n", hidUevent{name: "x"}},
		{"short HID_ID ignored", "HID_ID=0003:20A0\n", hidUevent{}},
		{"empty", "", hidUevent{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseHIDUevent(tt.in), cmp.AllowUnexported(hidUevent{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseHIDUevent(f *testing.F) {
	f.Add("HID_ID=0003:000020A0:000041E5\nHID_NAME=BlinkStick Nano\nHID_UNIQ=BS000001-3.1\n")
	f.Add("HID_ID=::\n=\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		u := parseHIDUevent(s)
		if u.vendor > 0xffffffff || len(u.name) > len(s) || len(u.uniq) > len(s) {
			t.Fatalf("parse of %q invented data: %+v", s, u)
		}
	})
}
