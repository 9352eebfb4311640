//go:build cgo || !linux

package blinkstick

import (
	"errors"
	"fmt"

	"github.com/karalabe/hid"
)

// hidapiBackend goes through github.com/karalabe/hid (hidapi over libusb on
// Linux, the native HID stacks on macOS and Windows). It needs cgo; on
// Linux it is there only when asked for (OpenOptions.Backend = "hidapi"),
// since it detaches the kernel driver and needs access to /dev/bus/usb.
type hidapiBackend struct{}

func newHidapi() backend {
	if !hid.Supported() {
		return nil
	}
	return hidapiBackend{}
}

func (hidapiBackend) name() string { return "hidapi" }

func (hidapiBackend) enumerate() ([]Info, error) {
	devs, err := hid.Enumerate(VendorID, ProductID)
	if err != nil {
		return nil, &OpError{Op: "enumerate", Err: fmt.Errorf("hidapi: %w", err)}
	}
	infos := make([]Info, 0, len(devs))
	for _, d := range devs {
		in := Info{
			Path:         d.Path,
			Serial:       d.Serial,
			Product:      d.Product,
			Manufacturer: d.Manufacturer,
			Release:      d.Release,
			Backend:      "hidapi",
		}
		in.Variant = DetectVariant(in.Serial, in.Product, in.Release)
		in.LEDs = in.Variant.LEDs()
		infos = append(infos, in)
	}
	return infos, nil
}

func (hidapiBackend) open(info Info) (transport, error) {
	for _, d := range mustEnumerate() {
		if d.Path != info.Path {
			continue
		}
		dev, err := d.Open()
		if err != nil {
			// hidapi reports every failure as one string; access is
			// the usual reason once the device was just enumerated.
			return nil, &OpError{Op: "open", Device: info.Path, Err: fmt.Errorf("%w (hidapi: %v); give your group access with the udev rule from `extdrive install`, or run as root", ErrPermission, err)}
		}
		return hidapiTransport{dev}, nil
	}
	return nil, &OpError{Op: "open", Device: info.Path, Err: fmt.Errorf("%w: %s went away (unplugged?)", ErrNotFound, info.Path)}
}

func mustEnumerate() []hid.DeviceInfo {
	devs, _ := hid.Enumerate(VendorID, ProductID)
	return devs
}

type hidapiTransport struct{ d hid.Device }

func (t hidapiTransport) setFeature(b []byte) error {
	n, err := t.d.SendFeatureReport(b)
	if err != nil {
		return fmt.Errorf("send feature report %d: %w", b[0], err)
	}
	if n != len(b) {
		return fmt.Errorf("send feature report %d: short write %d of %d bytes", b[0], n, len(b))
	}
	return nil
}

func (t hidapiTransport) getFeature(b []byte) (int, error) {
	n, err := t.d.GetFeatureReport(b)
	if err != nil {
		return 0, fmt.Errorf("get feature report %d: %w", b[0], err)
	}
	return n, nil
}

func (t hidapiTransport) close() error {
	if err := t.d.Close(); err != nil && !errors.Is(err, hid.ErrDeviceClosed) {
		return err
	}
	return nil
}
