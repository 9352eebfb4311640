package crypttab_test

import (
	"fmt"
	"strings"

	"github.com/extdrive/extdrive/luksdrive/crypttab"
)

// Import maps a crypttab line and the fstab line mounting its mapping
// onto a drive entry for extdrive's config file.
func Example() {
	ct := "extbackup UUID=9b2e4f71-6c3d-4a8e-b5f0-1d7c3e9a2b64 /root/exthdd.key luks,noauto,keyfile-timeout=10s\n" +
		"swap /dev/md1 /dev/urandom swap\n"
	fs := "LABEL=extbackup /extbackup ext4 noauto,sync 0 2\n"
	rs, err := crypttab.Import(strings.NewReader(ct), strings.NewReader(fs), nil)
	if err != nil {
		panic(err)
	}
	for _, r := range rs {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s:%d %s %s", r.File, r.Line, r.Status, r.Reason)))
		if d := r.Drive; d != nil {
			fmt.Printf("  drive %s uuid=%s key=%s mount=%s sync=%t timeout=%s\n", d.Name, d.UUID, d.Key, d.MountPoint, d.Sync, d.KeyTimeout)
		}
	}
	// Output:
	// /etc/crypttab:1 mapped
	//   drive extbackup uuid=9b2e4f71-6c3d-4a8e-b5f0-1d7c3e9a2b64 key=/root/exthdd.key mount=/extbackup sync=true timeout=10s
	// /etc/crypttab:2 skipped swap: not a LUKS drive (option swap)
	// /etc/fstab:1 mapped mount point /extbackup of drive "extbackup"
}
