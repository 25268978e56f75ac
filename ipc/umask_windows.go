package ipc

func umask(m int) int { return 0 }
