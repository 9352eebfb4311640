package vmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// QEMU cannot hot-plug ATA disks (its IDE bus has no hotplug handler), so
// the VM boots with ideSlots ide-hd disks on the AHCI controller, each
// backed by an empty placeholder, and AttachDisk(IDE) swaps the guest's
// image in with blockdev-reopen. The disk's capacity is fixed at boot to
// ideSlotSize: the image must be at least that large, and the guest sees
// its first ideSlotSize bytes.
const (
	ideSlots    = 2
	ideSlotSize = 64 << 20
)

func ideSlotSerial(i int) string { return fmt.Sprintf("VMTIDESLOT%d", i) }

func ideSlotArgs(sockDir string) []string {
	var args []string
	for i := 0; i < ideSlots; i++ {
		ph := filepath.Join(sockDir, fmt.Sprintf("ide%d.img", i))
		if f, err := os.Create(ph); err == nil {
			f.Truncate(ideSlotSize)
			f.Close()
		}
		args = append(args,
			"-blockdev", fmt.Sprintf("driver=file,node-name=ideph%d,filename=%s", i, ph),
			"-blockdev", fmt.Sprintf("driver=raw,node-name=ide%d,file=ideph%d,size=%d", i, i, ideSlotSize),
			"-device", fmt.Sprintf("ide-hd,bus=ahci.%d,drive=ide%d,id=ideslot%d,serial=%s", i, i, i, ideSlotSerial(i)),
		)
	}
	return args
}

// attachIDE swaps req's image into a free slot. The guest learns which
// slot from the serial in the reply.
func (h *hostHardware) attachIDE(ctx context.Context, req ctlRequest, img string) (int, error) {
	fi, err := os.Stat(img)
	if err != nil {
		return 0, err
	}
	if fi.Size() < ideSlotSize {
		return 0, fmt.Errorf("IDE image %s is %d bytes; it must be at least %d (QEMU cannot hot-plug ATA disks, so IDE disks have a fixed size)", req.Image, fi.Size(), ideSlotSize)
	}
	h.mu.Lock()
	slot := -1
	used := map[string]bool{}
	for _, b := range h.devs {
		used[b] = true
	}
	for i := 0; i < ideSlots; i++ {
		if !used[fmt.Sprintf("ide%d", i)] {
			slot = i
			break
		}
	}
	if slot < 0 {
		h.mu.Unlock()
		return 0, fmt.Errorf("all %d IDE slots are in use; Unplug one first", ideSlots)
	}
	h.devs[req.ID] = fmt.Sprintf("ide%d", slot)
	h.mu.Unlock()
	fileNode := "f-" + req.ID
	if _, err := h.qmp.execute(ctx, "blockdev-add", map[string]any{"driver": "file", "node-name": fileNode, "filename": img}); err != nil {
		h.release(req.ID)
		return 0, err
	}
	if err := h.reopenIDE(ctx, slot, fileNode); err != nil {
		h.qmp.execute(ctx, "blockdev-del", map[string]any{"node-name": fileNode})
		h.release(req.ID)
		return 0, err
	}
	return slot, nil
}

func (h *hostHardware) reopenIDE(ctx context.Context, slot int, fileNode string) error {
	_, err := h.qmp.execute(ctx, "blockdev-reopen", map[string]any{"options": []any{map[string]any{
		"driver": "raw", "node-name": fmt.Sprintf("ide%d", slot), "file": fileNode, "size": ideSlotSize,
	}}})
	return err
}

func (h *hostHardware) detachIDE(ctx context.Context, id string) error {
	h.mu.Lock()
	bus := h.devs[id]
	h.mu.Unlock()
	var slot int
	fmt.Sscanf(bus, "ide%d", &slot)
	if err := h.reopenIDE(ctx, slot, fmt.Sprintf("ideph%d", slot)); err != nil {
		return err
	}
	if _, err := h.qmp.execute(ctx, "blockdev-del", map[string]any{"node-name": "f-" + id}); err != nil {
		return err
	}
	h.release(id)
	return nil
}

func (h *hostHardware) release(id string) {
	h.mu.Lock()
	delete(h.devs, id)
	h.mu.Unlock()
}
