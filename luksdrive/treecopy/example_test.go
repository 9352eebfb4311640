//go:build linux

package treecopy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

func Example() {
	tmp, _ := os.MkdirTemp("", "treecopy-example")
	defer os.RemoveAll(tmp)
	src, root := filepath.Join(tmp, "data"), filepath.Join(tmp, "drive")
	os.MkdirAll(filepath.Join(src, "docs"), 0o755)
	os.WriteFile(filepath.Join(src, "docs", "a.txt"), []byte("hello"), 0o644)
	os.Mkdir(root, 0o755)

	day := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	opts := &treecopy.Options{
		Now:       func() time.Time { return day },
		Retention: &treecopy.Retention{Last: 7, Monthly: 12},
	}
	first, err := treecopy.Snapshot(context.Background(), src, root, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	day = day.Add(24 * time.Hour)
	second, err := treecopy.Snapshot(context.Background(), src, root, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	latest, _ := os.Readlink(filepath.Join(root, "latest"))
	fmt.Println(filepath.Base(first.Path), "copied", first.Copied)
	fmt.Println(filepath.Base(second.Path), "linked", second.Linked)
	fmt.Println("latest ->", latest)
	// Output:
	// 2026-03-01T020000Z copied 1
	// 2026-03-02T020000Z linked 1
	// latest -> 2026-03-02T020000Z
}
