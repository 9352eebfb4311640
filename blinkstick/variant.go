package blinkstick

import (
	"strconv"
	"strings"
)

// USB identifiers every BlinkStick model shares; the model is told apart by
// the serial number's version suffix and the device release.
const (
	VendorID  = 0x20A0
	ProductID = 0x41E5
)

// Variant is a BlinkStick model.
type Variant int

const (
	VariantUnknown Variant = iota
	VariantBlinkStick
	VariantPro
	VariantStrip
	VariantSquare
	VariantNano
	VariantFlex
)

var variantNames = [...]string{
	VariantUnknown:    "Unknown",
	VariantBlinkStick: "BlinkStick",
	VariantPro:        "BlinkStick Pro",
	VariantStrip:      "BlinkStick Strip",
	VariantSquare:     "BlinkStick Square",
	VariantNano:       "BlinkStick Nano",
	VariantFlex:       "BlinkStick Flex",
}

// String returns the model name as the Python tool prints it.
func (v Variant) String() string {
	if v < 0 || int(v) >= len(variantNames) {
		return variantNames[VariantUnknown]
	}
	return variantNames[v]
}

// LEDs is the number of LEDs the model carries. A Pro drives up to 64
// WS2812 LEDs on each of its three channels, so its figure is per channel;
// a Flex is sold with up to 32. Unknown models are treated as one LED,
// which every firmware version can set through report 1.
func (v Variant) LEDs() int {
	switch v {
	case VariantPro:
		return 64
	case VariantStrip, VariantSquare:
		return 8
	case VariantNano:
		return 2
	case VariantFlex:
		return 32
	}
	return 1
}

// addressable reports whether the firmware runs WS2812 LEDs, so reports 5
// to 9 (per-LED and frame writes) mean something. The original BlinkStick
// drives one RGB LED by PWM and ignores them.
func (v Variant) addressable() bool {
	switch v {
	case VariantPro, VariantStrip, VariantSquare, VariantNano, VariantFlex:
		return true
	}
	return false
}

// ParseSerial splits a BlinkStick serial number such as "BS012345-3.1"
// into its firmware major and minor version. ok is false for anything not
// in that form.
func ParseSerial(serial string) (major, minor int, ok bool) {
	if !strings.HasPrefix(serial, "BS") {
		return 0, 0, false
	}
	_, ver, found := strings.Cut(serial, "-")
	if !found {
		return 0, 0, false
	}
	ma, mi, found := strings.Cut(ver, ".")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(ma)
	minor, err2 := strconv.Atoi(mi)
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return 0, 0, false
	}
	return major, minor, true
}

// DetectVariant identifies the model. The serial's major version says
// BlinkStick (1), Pro (2) or one of the version-3 boards; those share a
// serial scheme and differ in the USB device release (bcdDevice 0x200
// Square, 0x201 Strip, 0x202 Nano, 0x203 Flex). release is 0 where the
// backend cannot read it (an emulated device has no USB parent), and then
// the product string decides.
func DetectVariant(serial, product string, release uint16) Variant {
	major, _, ok := ParseSerial(serial)
	if ok {
		switch major {
		case 1:
			return VariantBlinkStick
		case 2:
			return VariantPro
		case 3:
			switch release {
			case 0x200:
				return VariantSquare
			case 0x201:
				return VariantStrip
			case 0x202:
				return VariantNano
			case 0x203:
				return VariantFlex
			}
		}
	}
	p := strings.ToLower(product)
	switch {
	case strings.Contains(p, "square"):
		return VariantSquare
	case strings.Contains(p, "strip"):
		return VariantStrip
	case strings.Contains(p, "nano"):
		return VariantNano
	case strings.Contains(p, "flex"):
		return VariantFlex
	case strings.Contains(p, "pro"):
		return VariantPro
	}
	return VariantUnknown
}
