//go:build ignore

// gen_icons draws the tray icons into icons/ (run `go generate ./assets`).
// Each icon is a disc in the state's colour with a darker rim (so it stands
// out on light panels) and a white glyph (so it stands out on the disc, and
// the disc on dark panels): a key when all is well, "!" when something needs
// the user, three dots while a sign-in is under way, a grey key while the
// tray has no daemon to talk to. Shapes are sampled 8×8 times per pixel for
// smooth edges. Windows gets the same PNGs wrapped in .ico files.
package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

const size = 32

type shape func(x, y float64) bool

func disc(cx, cy, r float64) shape {
	return func(x, y float64) bool { return math.Hypot(x-cx, y-cy) <= r }
}

func rect(x0, y0, x1, y1 float64) shape {
	return func(x, y float64) bool { return x >= x0 && x <= x1 && y >= y0 && y <= y1 }
}

func union(s ...shape) shape {
	return func(x, y float64) bool {
		for _, f := range s {
			if f(x, y) {
				return true
			}
		}
		return false
	}
}

func minus(a, b shape) shape { return func(x, y float64) bool { return a(x, y) && !b(x, y) } }

// rotate turns s by deg degrees about the centre.
func rotate(s shape, deg float64) shape {
	sin, cos := math.Sincos(deg * math.Pi / 180)
	return func(x, y float64) bool {
		dx, dy := x-0.5, y-0.5
		return s(0.5+dx*cos+dy*sin, 0.5-dx*sin+dy*cos)
	}
}

var (
	key = rotate(union(
		minus(disc(0.34, 0.5, 0.15), disc(0.34, 0.5, 0.06)),
		rect(0.46, 0.45, 0.80, 0.555),
		rect(0.62, 0.555, 0.68, 0.66),
		rect(0.72, 0.555, 0.78, 0.63),
	), 45)
	bang = union(rect(0.445, 0.20, 0.555, 0.60), disc(0.5, 0.75, 0.07))
	dots = union(disc(0.28, 0.5, 0.085), disc(0.5, 0.5, 0.085), disc(0.72, 0.5, 0.085))
)

type layer struct {
	s shape
	c color.NRGBA
}

func hex(v uint32) color.NRGBA {
	return color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}
}

func icon(fill, rim uint32, glyph shape) image.Image {
	layers := []layer{
		{disc(0.5, 0.5, 0.485), hex(rim)},
		{disc(0.5, 0.5, 0.425), hex(fill)},
		{glyph, hex(0xffffff)},
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 8
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / size
					y := (float64(py) + (float64(sy)+0.5)/ss) / size
					for i := len(layers) - 1; i >= 0; i-- { // topmost layer that covers the sample
						if layers[i].s(x, y) {
							c := layers[i].c
							r, g, b, a = r+float64(c.R), g+float64(c.G), b+float64(c.B), a+1
							break
						}
					}
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{uint8(r / a), uint8(g / a), uint8(b / a), uint8(255 * a / ss / ss)})
		}
	}
	return img
}

// ico wraps one PNG in an .ico container (Windows Vista and later read PNG entries).
func ico(p []byte) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(uint16(0))
	w(uint16(1)) // icon
	w(uint16(1)) // one image
	w([4]uint8{size, size, 0, 0})
	w(uint16(1))  // planes
	w(uint16(32)) // bits per pixel
	w(uint32(len(p)))
	w(uint32(6 + 16))
	b.Write(p)
	return b.Bytes()
}

func main() {
	icons := map[string]image.Image{
		"ok":         icon(0x2e9e4f, 0x1b6632, key),
		"attention":  icon(0xe0561b, 0x943510, bang),
		"signing-in": icon(0x2f74d0, 0x1c4a8c, dots),
		"offline":    icon(0x80868e, 0x4e5258, key),
	}
	for name, img := range icons {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			log.Fatal(err)
		}
		base := filepath.Join("icons", "tray-"+name)
		if err := os.WriteFile(base+".png", b.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(base+".ico", ico(b.Bytes()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
