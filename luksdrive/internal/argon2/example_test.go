package argon2_test

import (
	"context"
	"fmt"

	"github.com/extdrive/extdrive/luksdrive/internal/argon2"
)

// Several derivations share one Workspace, so the block memory is mapped
// once; Close returns it to the kernel.
func ExampleWorkspace() {
	var w argon2.Workspace
	defer w.Close()
	for _, pass := range []string{"first", "second"} {
		key, err := w.Key(context.Background(), argon2.ModeID, []byte(pass), []byte("somesaltsomesalt"), 1, 64, 1, 16)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(len(key))
		clear(key)
	}
	// Output:
	// 16
	// 16
}
