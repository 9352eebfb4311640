package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration ("90s", "1h30m")
// or with a day or week unit ("2d", "1w"), which Go's parser lacks and
// which backup schedules are naturally written in.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(formatDuration(time.Duration(d))), nil }

func (d Duration) String() string { return formatDuration(time.Duration(d)) }

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseUint(n, 10, 16)
			if err != nil {
				return 0, fmt.Errorf("bad duration %q: want a whole number before %q", s, u.suffix)
			}
			return time.Duration(v) * u.unit, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want e.g. \"90s\", \"10m\", \"2h\", \"3d\" or \"1w\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("bad duration %q: negative", s)
	}
	return v, nil
}

func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d > 0 && d%(7*day) == 0:
		return fmt.Sprintf("%dw", d/(7*day))
	case d > 0 && d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// Period is the schedule's interval. Months are calendar months (a copy
// made on the 31st is next due on the last day of the next month, not 30
// days later), so it is kept apart from fixed durations.
type Period struct {
	Months int
	Dur    time.Duration
}

// Monthly is the default period.
var Monthly = Period{Months: 1}

// UnmarshalText accepts "monthly", "weekly", "daily", "quarterly", an
// ISO 8601-ish "P1M", "P2W", "P10D", or a Duration ("14d", "720h").
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParsePeriod parses the forms Period.UnmarshalText accepts.
func ParsePeriod(s string) (Period, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "monthly":
		return Period{Months: 1}, nil
	case "quarterly":
		return Period{Months: 3}, nil
	case "weekly":
		return Period{Dur: 7 * 24 * time.Hour}, nil
	case "daily":
		return Period{Dur: 24 * time.Hour}, nil
	}
	if rest, ok := strings.CutPrefix(strings.ToUpper(s), "P"); ok && len(rest) >= 2 {
		n, err := strconv.ParseUint(rest[:len(rest)-1], 10, 16)
		if err == nil && n > 0 {
			switch rest[len(rest)-1] {
			case 'M':
				return Period{Months: int(n)}, nil
			case 'W':
				return Period{Dur: time.Duration(n) * 7 * 24 * time.Hour}, nil
			case 'D':
				return Period{Dur: time.Duration(n) * 24 * time.Hour}, nil
			}
		}
		return Period{}, fmt.Errorf("bad period %q: ISO form must be PnM, PnW or PnD with n > 0", s)
	}
	d, err := parseDuration(s)
	if err != nil {
		return Period{}, fmt.Errorf("bad period %q: want monthly, weekly, daily, quarterly, P1M, 14d or 720h", s)
	}
	if d < time.Hour {
		return Period{}, fmt.Errorf("bad period %q: shorter than an hour", s)
	}
	return Period{Dur: d}, nil
}

// AddTo returns t plus one period.
func (p Period) AddTo(t time.Time) time.Time {
	if p.Months > 0 {
		// AddDate normalises Jan 31 + 1 month to Mar 3; clamp to the
		// month's last day instead, which is what "monthly" means to people.
		y, m, d := t.Date()
		first := time.Date(y, m+time.Month(p.Months), 1, 0, 0, 0, 0, t.Location())
		last := first.AddDate(0, 1, -1).Day()
		if d > last {
			d = last
		}
		hh, mm, ss := t.Clock()
		return time.Date(first.Year(), first.Month(), d, hh, mm, ss, t.Nanosecond(), t.Location())
	}
	return t.Add(p.Dur)
}

// Approx is the period as a fixed duration (a month counts 30 days),
// for slack and sanity bounds where calendar precision does not matter.
func (p Period) Approx() time.Duration {
	return time.Duration(p.Months)*30*24*time.Hour + p.Dur
}

// IsZero reports whether the period is unset.
func (p Period) IsZero() bool { return p.Months == 0 && p.Dur == 0 }

func (p Period) String() string {
	switch {
	case p.Months == 1 && p.Dur == 0:
		return "monthly"
	case p.Months == 3 && p.Dur == 0:
		return "quarterly"
	case p.Months > 0:
		return fmt.Sprintf("P%dM", p.Months)
	case p.Dur == 7*24*time.Hour:
		return "weekly"
	case p.Dur == 24*time.Hour:
		return "daily"
	}
	return formatDuration(p.Dur)
}

// Size is a byte count written as "512KiB", "1MiB", "1GB" or a bare number.
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	units := []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(str, u.suffix); ok {
			str, mul = strings.TrimSpace(n), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return fmt.Errorf("bad size %q: want e.g. \"512KiB\", \"10MiB\" or a byte count", string(b))
	}
	*s = Size(n * mul)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Size) String() string {
	switch {
	case s > 0 && s%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", s>>30)
	case s > 0 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	case s > 0 && s%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", s>>10)
	}
	return strconv.FormatInt(int64(s), 10)
}

// Human writes the size for people, rounded to one decimal in binary
// units ("1.5 GiB", "512 B"), as status lines and reports show it.
func (s Size) Human() string {
	const unit = 1024
	if s < unit {
		return fmt.Sprintf("%d B", int64(s))
	}
	div, exp := int64(unit), 0
	for m := int64(s) / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(s)/float64(div), "KMGTPE"[exp])
}

// Command is a program and its arguments. In the file it is either an
// array (run as is, no shell) or a string (run by /bin/sh -c, so users can
// paste the pipelines they already have).
type Command []string

// UnmarshalTOML implements toml.Unmarshaler.
func (c *Command) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) == "" {
			return errors.New("empty command")
		}
		*c = Command{"/bin/sh", "-c", v}
		return nil
	case []any:
		if len(v) == 0 {
			return errors.New("empty command")
		}
		out := make(Command, len(v))
		for i, a := range v {
			s, ok := a.(string)
			if !ok {
				return fmt.Errorf("command argument %d is %T, want a string", i, a)
			}
			out[i] = s
		}
		if out[0] == "" {
			return errors.New("empty program name")
		}
		*c = out
		return nil
	}
	return fmt.Errorf("command is %T, want a string or an array of strings", v)
}

// String renders the command the way it would be written in the file.
func (c Command) String() string {
	if len(c) == 3 && c[0] == "/bin/sh" && c[1] == "-c" {
		return tomlQuote(c[2])
	}
	q := make([]string, len(c))
	for i, a := range c {
		q[i] = tomlQuote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
