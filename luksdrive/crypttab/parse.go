package crypttab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every *SyntaxError.
var ErrSyntax = errors.New("syntax error")

// maxLine bounds one line; real lines are short, and a file with no
// newline at all must not be read into memory whole.
const maxLine = 64 << 10

// SyntaxError is one line that does not follow crypttab(5) or fstab(5).
type SyntaxError struct {
	File string // as given to the parser
	Line int    // 1-based
	Text string // the line as written
	Msg  string // what is wrong and how to fix it
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Option is one comma-separated item of an options field: "noauto" or
// "keyfile-size=4096".
type Option struct {
	Name     string
	Value    string
	HasValue bool // "name=" has an empty value; "name" has none
}

func (o Option) String() string {
	if o.HasValue {
		return o.Name + "=" + o.Value
	}
	return o.Name
}

// Options is an options field in file order.
type Options []Option

// Get returns the value of the last option called name, as the tools that
// read these files let a later option override an earlier one.
func (os Options) Get(name string) (string, bool) {
	for i := len(os) - 1; i >= 0; i-- {
		if os[i].Name == name {
			return os[i].Value, true
		}
	}
	return "", false
}

// Has reports whether an option called name is present.
func (os Options) Has(name string) bool {
	_, ok := os.Get(name)
	return ok
}

func (os Options) String() string {
	s := make([]string, len(os))
	for i, o := range os {
		s[i] = o.String()
	}
	return strings.Join(s, ",")
}

// CrypttabEntry is one line of /etc/crypttab:
//
//	name  encrypted-device  [key-file  [options]]
type CrypttabEntry struct {
	Line int
	// Name is the /dev/mapper name.
	Name string
	// Device is the encrypted device as written: UUID=…, LABEL=…,
	// PARTUUID=…, a path, or a bare UUID.
	Device string
	// KeyFile is the key file ("path" or "path:device"); empty when the
	// field is missing, "none" or "-", which all mean: ask for a passphrase.
	KeyFile string
	Options Options
}

// FstabEntry is one line of /etc/fstab:
//
//	spec  file  vfstype  [options  [freq  [passno]]]
type FstabEntry struct {
	Line    int
	Spec    string // UUID=…, LABEL=…, /dev/mapper/NAME, ...
	File    string // the mount point
	Type    string
	Options Options // "defaults" when the field is missing
	Freq    int
	PassNo  int
}

// line is one non-blank, non-comment line split into unescaped fields.
type line struct {
	num    int
	text   string
	fields []string
}

// readLines splits r into lines and fields, calling fn for each line that
// holds something. Blank lines and lines whose first non-blank character
// is '#' are comments in both formats.
func readLines(r io.Reader, fn func(line)) error {
	br := bufio.NewReader(r)
	for num := 1; ; num++ {
		text, err := readLine(br)
		if text != "" || err == nil {
			trimmed := strings.TrimLeft(text, " \t")
			if trimmed != "" && trimmed[0] != '#' {
				fn(line{num: num, text: text, fields: splitFields(text)})
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// errLongLine marks a line past maxLine; its text is cut to maxLine.
var errLongLine = errors.New("line too long")

func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		frag, err := br.ReadSlice('\n')
		if b.Len()+len(frag) <= maxLine+1 {
			b.Write(frag)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		s := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r")
		if err != nil && !errors.Is(err, io.EOF) {
			return s, err
		}
		if err == nil && len(s) > maxLine {
			return s[:maxLine], nil
		}
		if len(s) > maxLine {
			s = s[:maxLine]
		}
		return s, err
	}
}

// splitFields splits on blanks (spaces and tabs) and decodes the octal
// escapes both man pages use for blanks inside a field.
func splitFields(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
	for i := range f {
		f[i] = Unescape(f[i])
	}
	return f
}

// Unescape decodes \NNN octal escapes (\040 space, \011 tab, \012
// newline, \134 backslash), as getmntent(3) does. A backslash that does
// not start a three-digit octal escape stays as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			if s[i+1] <= '3' { // \400 and above do not fit a byte
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Escape encodes s as one field: blanks, newlines, backslashes and a
// leading '#' become octal escapes, so Unescape(Escape(s)) == s and the
// field does not split or turn into a comment.
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\\' || c == '#' && i == 0:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseOptions splits an options field on commas. Commas inside double
// quotes (SELinux context="a,b") do not split, as in libmount.
func parseOptions(s string) (Options, error) {
	var out Options
	var cur strings.Builder
	quoted := false
	flush := func() {
		item := cur.String()
		cur.Reset()
		if item == "" {
			return
		}
		name, value, has := strings.Cut(item, "=")
		out = append(out, Option{Name: name, Value: value, HasValue: has})
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ',' && !quoted:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote in options")
	}
	flush()
	for _, o := range out {
		if o.Name == "" {
			return nil, fmt.Errorf("option %q has no name before '='", o.String())
		}
	}
	return out, nil
}

// ParseCrypttab reads a crypttab file. It returns every well-formed entry;
// the error joins a *SyntaxError per bad line (and any read error), so one
// bad line does not hide the others. name labels the errors.
func ParseCrypttab(name string, r io.Reader) ([]CrypttabEntry, error) {
	return parseTable(name, r, crypttabEntry)
}

// parseTable reads the lines of a crypttab or fstab file through entry,
// which returns the parsed line or what is wrong with it.
func parseTable[E any](name string, r io.Reader, entry func(line) (E, string)) ([]E, error) {
	var out []E
	var errs []error
	err := readLines(r, func(l line) {
		e, msg := entry(l)
		if msg != "" {
			errs = append(errs, &SyntaxError{File: name, Line: l.num, Text: l.text, Msg: msg})
			return
		}
		out = append(out, e)
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", name, err))
	}
	return out, errors.Join(errs...)
}

func crypttabEntry(l line) (CrypttabEntry, string) {
	f := l.fields
	if len(l.text) >= maxLine {
		return CrypttabEntry{}, "line longer than 64 KiB"
	}
	switch {
	case len(f) < 2:
		return CrypttabEntry{}, "only a name: want \"name device [key-file [options]]\""
	case len(f) > 4:
		return CrypttabEntry{}, fmt.Sprintf("%d fields, want at most 4 (name device key-file options); write a space inside a field as \\040", len(f))
	}
	e := CrypttabEntry{Line: l.num, Name: f[0], Device: f[1]}
	if e.Name == "" || strings.ContainsAny(e.Name, "/\x00") || e.Name == "." || e.Name == ".." {
		return e, fmt.Sprintf("name %q cannot be a /dev/mapper name", e.Name)
	}
	if e.Device == "" {
		return e, "empty device field"
	}
	if len(f) > 2 && f[2] != "none" && f[2] != "-" {
		e.KeyFile = f[2]
	}
	if len(f) > 3 {
		opts, err := parseOptions(f[3])
		if err != nil {
			return e, err.Error()
		}
		e.Options = opts
	}
	return e, ""
}

// String renders the entry as a crypttab line.
func (e CrypttabEntry) String() string {
	key := e.KeyFile
	if key == "" {
		key = "none"
	} else {
		key = Escape(key)
	}
	s := Escape(e.Name) + " " + Escape(e.Device) + " " + key
	if len(e.Options) > 0 {
		s += " " + Escape(e.Options.String())
	}
	return s
}

// ParseFstab reads an fstab file, with the same error handling as
// ParseCrypttab.
func ParseFstab(name string, r io.Reader) ([]FstabEntry, error) {
	return parseTable(name, r, fstabEntry)
}

func fstabEntry(l line) (FstabEntry, string) {
	f := l.fields
	if len(l.text) >= maxLine {
		return FstabEntry{}, "line longer than 64 KiB"
	}
	switch {
	case len(f) < 3:
		return FstabEntry{}, fmt.Sprintf("%d fields, want at least 3 (device mount-point type [options [dump [pass]]])", len(f))
	case len(f) > 6:
		return FstabEntry{}, fmt.Sprintf("%d fields, want at most 6; write a space inside a field as \\040", len(f))
	}
	e := FstabEntry{Line: l.num, Spec: f[0], File: f[1], Type: f[2]}
	if e.Spec == "" || e.File == "" || e.Type == "" {
		return e, "empty device, mount point or type field"
	}
	opts := "defaults"
	if len(f) > 3 {
		opts = f[3]
	}
	o, err := parseOptions(opts)
	if err != nil {
		return e, err.Error()
	}
	e.Options = o
	for i, p := range []*int{&e.Freq, &e.PassNo} {
		if len(f) <= 4+i {
			break
		}
		n, err := strconv.Atoi(f[4+i])
		if err != nil || n < 0 {
			return e, fmt.Sprintf("%s field %q is not a number (use 0)", [2]string{"dump", "pass"}[i], f[4+i])
		}
		*p = n
	}
	return e, ""
}

// String renders the entry as an fstab line.
func (e FstabEntry) String() string {
	return fmt.Sprintf("%s %s %s %s %d %d", Escape(e.Spec), Escape(e.File), Escape(e.Type), Escape(e.Options.String()), e.Freq, e.PassNo)
}
