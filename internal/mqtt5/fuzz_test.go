package mqtt5

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder, as a hostile broker could. Decoding must not
// panic; whatever it accepts must encode again (the codec accepts nothing it would refuse to
// write) and come back to the same bytes through a second decode, so decoding and encoding
// agree on every field. `go test` runs the seed corpus only; `go test -fuzz FuzzDecode` fuzzes.
func FuzzDecode(f *testing.F) {
	for _, tc := range roundTripCases() {
		enc, err := tc.p.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, 0)
	}
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 0)
	f.Add([]byte{0x40, 0x03, 0x00, 0x01}, 4)
	f.Add([]byte{0x20, 0x06, 0x00, 0x00, 0x03, 0x26, 0x00, 0x00}, 0)
	f.Fuzz(func(t *testing.T, b []byte, maxSize int) {
		p, n, err := Decode(b, maxSize)
		if err != nil {
			if _, ok := err.(*Error); !ok && err != ErrIncomplete {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("decode took %d of %d bytes", n, len(b))
		}
		enc, err := p.Append(nil)
		if err != nil {
			t.Fatalf("decoded %x to %+v, which does not encode: %v", b[:n], p, err)
		}
		p2, n2, err := Decode(enc, 0)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-encoded %x does not decode: %v", enc, err)
		}
		enc2, err := p2.Append(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encodings differ:\n%x\n%x (%v)", enc, enc2, err)
		}
		if len(enc) > n {
			t.Fatalf("re-encoding grew from %d to %d bytes", n, len(enc))
		}
	})
}
