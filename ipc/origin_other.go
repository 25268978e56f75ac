//go:build !linux

package ipc

func origin(int) string { return "" }
