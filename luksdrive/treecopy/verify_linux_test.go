package treecopy

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestVerifyFindsCorruption: verifyTree reports a destination file whose
// bytes differ from the source at equal size, and a source file that is
// gone, and nothing else.
func TestVerifyFindsCorruption(t *testing.T) {
	tmp := t.TempDir()
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	files := map[string]string{"ok": "same", "sub/bad": "original", "sub/deeper/ok2": "same too", "gone": "x"}
	for p, c := range files {
		for _, root := range []string{src, dst} {
			os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
			if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.WriteFile(filepath.Join(dst, "sub/bad"), []byte("0riginal"), 0o644)
	os.Remove(filepath.Join(src, "gone"))
	sfd, _ := unix.Open(src, dirFlags, 0)
	dfd, _ := unix.Open(dst, dirFlags, 0)
	defer unix.Close(sfd)
	defer unix.Close(dfd)
	got, err := verifyTree(context.Background(), sfd, dfd, src, dst, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"sub/bad": true, "gone": true}
	gotm := map[string]bool{}
	for _, g := range got {
		gotm[g] = true
	}
	if diff := cmp.Diff(want, gotm); diff != "" {
		t.Errorf("mismatches (-want +got):\n%s", diff)
	}
}
