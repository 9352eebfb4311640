// Command uname prints the running kernel's release. The vmtest smoke suite
// builds it through Options.Commands to prove that Go commands reach the
// guest's PATH and run there.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		fmt.Fprintln(os.Stderr, "uname:", err)
		os.Exit(1)
	}
	fmt.Println(unix.ByteSliceToString(u.Release[:]))
}
