package rotate_test

import (
	"fmt"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
)

// Two drives alternate monthly: offsite-2 was copied in February,
// offsite-1 on March 1st. On March 20th offsite-2 is due, offsite-1 is not.
func ExampleDecide() {
	c, err := config.Load("../../testdata/config/example.toml")
	if err != nil {
		panic(err)
	}
	march := time.Date(2026, 3, 1, 19, 0, 0, 0, time.UTC)
	h := &rotate.History{}
	h.Add(rotate.Record{ID: "1", Seq: 1, Drive: "offsite-2", Start: march.AddDate(0, -1, 0), End: march.AddDate(0, -1, 0).Add(time.Hour), OK: true})
	h.Add(rotate.Record{ID: "2", Seq: 2, Drive: "offsite-1", Start: march, End: march.Add(time.Hour), OK: true})

	later := time.Date(2026, 3, 20, 18, 0, 0, 0, time.UTC)
	for _, d := range []string{"offsite-1", "offsite-2"} {
		dec := rotate.Decide(c, h, d, later)
		fmt.Printf("%s due=%v: %s\n", d, dec.Due, dec.Reason)
	}
	fmt.Println("next copy expected", rotate.Decide(c, h, "offsite-2", later).NextAt.Format(time.DateOnly))
	// Output:
	// offsite-1 due=false: last good copy on 2026-03-01; it is offsite-2's turn
	// offsite-2 due=true: last good copy on 2026-02-01 is older than the monthly period
	// next copy expected 2026-04-01
}
