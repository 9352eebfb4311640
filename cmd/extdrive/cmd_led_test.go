package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/blinkstick"
)

// These run on machines without a BlinkStick (the host and CI); the
// guest tests in package blinkstick drive an emulated one through the
// real hidraw path.
func TestLEDCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad colour", []string{"led", "--set-color", "bleu"}, exitUsage, `invalid colour "bleu": use a colour name such as red`},
		{"bad positional colour", []string{"led", "#12345"}, exitUsage, `invalid colour "#12345"`},
		{"limit above 100", []string{"led", "--limit", "101", "--set-color", "red"}, exitUsage, "--limit 101 is out of range: give a percentage from 0 to 100"},
		{"limit below 0", []string{"led", "--limit", "-1", "--set-color", "red"}, exitUsage, "--limit -1 is out of range"},
		{"brightness alias checked too", []string{"led", "--brightness", "200", "red"}, exitUsage, "--limit 200 is out of range"},
		{"blink and pulse", []string{"led", "--blink", "--pulse", "red"}, exitUsage, "--blink and --pulse exclude each other"},
		{"off and colour", []string{"led", "--off", "--set-color", "red"}, exitUsage, "--off and a colour exclude each other"},
		{"colour twice", []string{"led", "--set-color", "red", "blue"}, exitUsage, "either as --set-color or as an argument"},
		{"nothing to do", []string{"led"}, exitUsage, "nothing to do: give a colour"},
		{"negative repeats", []string{"led", "--blink", "--repeats", "-2", "red"}, exitUsage, "--repeats -2 is negative"},
		{"zero duration", []string{"led", "--pulse", "--duration", "0", "red"}, exitUsage, "must be positive"},
		{"channel 3", []string{"led", "--channel", "3", "red"}, exitUsage, "--channel 3 is out of range"},
		{"list with colour", []string{"led", "--list", "red"}, exitUsage, "--list only lists"},
		{"not a number", []string{"led", "--index", "one", "red"}, exitUsage, "invalid argument"},
		{"unknown backend", []string{"led", "--backend", "winusb", "red"}, exitLEDUnsupported, `backend "winusb" is not in this build`},
		{"no stick with that serial", []string{"led", "--serial", "BS999999-9.9", "--set-color", "red"}, exitLEDNotFound, "no BlinkStick found with serial BS999999-9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.msg) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.msg)
			}
			if n := strings.Count(strings.TrimRight(errb.String(), "\n"), "\n"); n != 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout on error: %q", out.String())
			}
		})
	}
}

func TestLEDListWithoutSticks(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"led", "--list", "--serial", "BS999999-9.9"}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	infos, err := blinkstick.List(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Skipf("%d BlinkStick(s) plugged in here; the guest tests cover listing them", len(infos))
	}
	// No stick: --list prints nothing and succeeds; setting a colour is
	// exit 50 with a hint.
	if out.Len() != 0 {
		t.Errorf("--list printed %q with no stick", out.String())
	}
	out.Reset()
	errb.Reset()
	code := run(context.Background(), []string{"led", "--index", "1", "--limit", "50", "--set-color", "red"}, strings.NewReader(""), &out, &errb)
	if code != exitLEDNotFound || errb.String() != "extdrive: no BlinkStick found: plug one in, or check that the hidraw module is loaded\n" {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
