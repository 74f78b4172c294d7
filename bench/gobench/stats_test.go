package main

import "testing"

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if median(xs) != 3 || percentile(xs, 0) != 1 || percentile(xs, 100) != 5 || percentile(xs, 50) != 3 {
		t.Fatal("percentile")
	}
	if median([]float64{1, 2}) != 1.5 {
		t.Fatal("median of two")
	}
	if percentile([]float64{0, 10}, 99) != 9.9 {
		t.Fatal("interpolation")
	}
}

func TestLastJSONLine(t *testing.T) {
	if got := lastJSONLine("hello\n{\"a\":1}\n{\"b\":2}\nbye\n"); got != `{"b":2}` {
		t.Fatalf("got %q", got)
	}
}
