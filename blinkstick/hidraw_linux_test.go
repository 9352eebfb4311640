package blinkstick

import "testing"

func TestHidIOC(t *testing.T) {
	// <linux/hidraw.h>: HIDIOCSFEATURE(len) _IOC(_IOC_WRITE|_IOC_READ, 'H', 0x06, len)
	// and HIDIOCGFEATURE(len) the same with 0x07; values as the kernel
	// headers give them on x86 and arm for len 4 and 194.
	want := map[[2]int]uintptr{
		{6, 4}: 0xC0044806, {7, 4}: 0xC0044807,
		{6, 194}: 0xC0C24806, {7, 194}: 0xC0C24807,
	}
	for k, w := range want {
		if got := hidIOC(k[0], k[1]); got != w {
			t.Errorf("hidIOC(%#x, %d) = %#x, want %#x", k[0], k[1], got, w)
		}
	}
}
