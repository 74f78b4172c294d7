package churn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// WriteTable prints one row per API/config/schedule (in the order they first appear) with
// the sums over its trials, and the number of trials that failed.
func WriteTable(w io.Writer, rs []Result) error {
	type row struct {
		key                                                                             string
		trials, sent, acked, stored, lost, dup, ooo, kills, crashes, failed, qlost, bad int
	}
	var rows []*row
	byKey := map[string]*row{}
	for _, r := range rs {
		key := r.Label + "/" + r.Config + "/" + r.Schedule
		rw := byKey[key]
		if rw == nil {
			rw = &row{key: key}
			byKey[key] = rw
			rows = append(rows, rw)
		}
		rw.trials++
		rw.sent += r.Sent
		rw.acked += r.Acked
		rw.stored += r.Stored
		rw.lost += r.Lost
		rw.dup += r.Duplicates
		rw.ooo += r.OutOfOrder
		rw.kills += r.Kills
		rw.crashes += r.Crashes
		rw.failed += r.Failed
		rw.qlost += r.QueuedLost
		if !r.OK() {
			rw.bad++
		}
	}
	head := []string{"trials", "sent", "acked", "stored", "lost", "dup", "out-of-order", "kills", "pub-crashes", "pub-failed", "queued-lost", "failed-trials"}
	keyW := len("api/config/schedule")
	widths := make([]int, len(head))
	for i, h := range head {
		widths[i] = len(h)
	}
	cells := make([][]int, len(rows))
	for n, r := range rows {
		keyW = max(keyW, len(r.key))
		cells[n] = []int{r.trials, r.sent, r.acked, r.stored, r.lost, r.dup, r.ooo, r.kills, r.crashes, r.failed, r.qlost, r.bad}
		for i, v := range cells[n] {
			widths[i] = max(widths[i], len(strconv.Itoa(v)))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s", keyW, "api/config/schedule")
	for i, h := range head {
		fmt.Fprintf(&b, "  %*s", widths[i], h)
	}
	b.WriteByte('\n')
	for n, r := range rows {
		fmt.Fprintf(&b, "%-*s", keyW, r.key)
		for i, v := range cells[n] {
			fmt.Fprintf(&b, "  %*d", widths[i], v)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// AppendJSON appends r to the file at path as one JSON line.
func AppendJSON(path string, r Result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	line, err := json.Marshal(r)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadJSON reads the results AppendJSON wrote.
func ReadJSON(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		rs = append(rs, r)
	}
	return rs, sc.Err()
}
