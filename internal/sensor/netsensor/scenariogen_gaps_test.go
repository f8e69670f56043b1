package netsensor

// Scenarios of the gateway pack's rules for ACK and window scans, IP
// protocol scans, FTP bounce and password guessing: made like the others
// (scenariogen_test.go), from crafted packets through the real sensor.

import (
	"encoding/base64"
	"fmt"
)

func init() {
	scenarios["ack-scan"] = func(g *G) {
		// An old connection's lone ACK, reset by a server that forgot it:
		// one probe-like exchange, nothing more.
		k := g.tcp("198.51.100.7", 51000, "10.0.0.3", 443)
		k.cl(0.3, "A", "")
		k.sv(0.301, "R", "")
		// A connection older than the sensor: an ACK, then data both ways.
		m := g.tcp("198.51.100.8", 52000, "10.0.0.3", 22)
		m.cl(0.5, "A", "")
		m.sv(0.52, "PA", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
		m.cl(0.55, "PA", "SSH-2.0-OpenSSH_9.6\r\n")
		// nmap -sA from 203.0.113.60 against 10.0.0.6 behind a firewall:
		// eleven ports reset (unfiltered), 25 rejected by the firewall
		// with an ICMP unreachable, 135 and 445 dropped (filtered).
		s := "203.0.113.60"
		tt := 2.0
		for _, p := range []uint16{21, 22, 23, 25, 53, 80, 110, 135, 143, 443, 445, 993, 3306, 8080} {
			a := g.tcp(s, 61222, "10.0.0.6", p)
			a.cl(tt, "A", "")
			switch p {
			case 25:
				g.at(tt+0.001, icmpErr("10.0.0.1", s, 3, 13, 0, tcpP(s, 61222, "10.0.0.6", p, "A", "")))
			case 135, 445:
				a.cl(tt+1.0, "A", "") // nmap tries again, then gives up
			default:
				a.sv(tt+0.001, "R", "")
			}
			tt += 0.01
		}
		g.end("ack-scan", "aks-")
	}

	scenarios["ip-protocol-scan"] = func(g *G) {
		// The site's IPsec VPN, ESP and AH: two protocols between the
		// same ends.
		g.at(0.5, rawP("10.0.0.1", "198.51.100.40", 50, append([]byte{0, 0, 0x10, 0x01, 0, 0, 0, 1}, fill(120, 0x5a)...)))
		g.at(0.6, rawP("10.0.0.1", "198.51.100.40", 51, append([]byte{50, 4, 0, 0, 0, 0, 0x10, 0x02, 0, 0, 0, 1}, fill(120, 0x5b)...)))
		// nmap -sO against 10.0.0.3 from 203.0.113.70: an empty IP packet
		// for each protocol (a proper header for ICMP, TCP and UDP); the
		// target says protocol unreachable for those it does not speak.
		s := "203.0.113.70"
		tt := 2.0
		for p := uint8(1); p <= 60; p++ {
			var f []byte
			switch p {
			case 1:
				f = icmpP(s, "10.0.0.3", 8, 0, 0x4d01, 0, nil)
			case 6:
				f = tcpP(s, 55010, "10.0.0.3", 80, "A", "")
			case 17:
				f = udpP(s, 55010, "10.0.0.3", 40125, nil)
			case 58, 43, 44, 59, 60:
				continue // IPv6 headers: nmap sends them over IPv6 only
			default:
				f = rawP(s, "10.0.0.3", p, nil)
			}
			g.at(tt, f)
			if p != 1 && p != 6 && p != 17 && p != 2 && p != 4 && p != 41 && p != 47 && p != 50 && p != 51 {
				g.at(tt+0.001, icmpErr("10.0.0.3", s, 3, 2, 0, f))
			}
			tt += 0.01
		}
		g.end("ip-protocol-scan", "ips-")
	}

	scenarios["ftp-bounce"] = func(g *G) {
		// Active-mode FTP: the client's own address in PORT and EPRT.
		a := g.tcp("198.51.100.61", 50300, "10.0.0.4", 21)
		a.open(0.5, 0.02)
		a.sv(0.6, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt := a.cmds(1.0, 0.3, "USER alice", "331 Please specify the password.", "PASS hunter22", "230 Login successful.",
			"PORT 198,51,100,61,195,81", "200 PORT command successful. Consider using PASV.", "LIST", "150 Here comes the directory listing.",
			"EPRT |1|198.51.100.61|50002|", "200 EPRT command successful. Consider using EPSV.", "RETR notes.txt", "150 Opening BINARY mode data connection for notes.txt (120 bytes).")
		tt = a.cmds(tt, 0.3, "QUIT", "221 Goodbye.")
		a.close(tt, 0.02)
		// 203.0.113.150 logs in anonymously and has the server send a file
		// to 10.0.0.3's port 25 (a mail message uploaded earlier).
		k := g.tcp("203.0.113.150", 47810, "10.0.0.4", 21)
		k.open(10.0, 0.03)
		k.sv(10.1, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt = k.cmds(10.5, 0.5, "USER anonymous", "331 Please specify the password.", "PASS IEUser@", "230 Login successful.",
			"CWD /incoming", "250 Directory successfully changed.",
			"PORT 10,0,0,3,0,25", "200 PORT command successful. Consider using PASV.", "RETR mail.txt", "150 Opening BINARY mode data connection for mail.txt (512 bytes).")
		k.sv(tt, "PA", "226 Transfer complete.\r\n")
		tt = k.cmds(tt+0.5, 0.5, "QUIT", "221 Goodbye.")
		k.close(tt, 0.03)
		// 203.0.113.152 tries nmap -b; the server refuses PORT to anyone
		// but the client, twice (nmap gives up then): an attempt, still
		// reported, too few for a scan.
		m := g.tcp("203.0.113.152", 46001, "10.0.0.4", 21)
		m.open(20.0, 0.03)
		m.sv(20.1, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt = m.cmds(20.5, 0.1, "USER anonymous", "331 Please specify the password.", "PASS -wwwuser@", "230 Login successful.",
			"PORT 10,0,0,3,0,21", "500 Illegal PORT command.", "PORT 10,0,0,3,4,1", "500 Illegal PORT command.")
		m.close(tt, 0.02)
		g.end("ftp-bounce", "ftb-")
	}

	scenarios["ftp-bounce-scan"] = func(g *G) {
		// nmap -b anonymous@10.0.0.4 -p 20-27 10.0.0.3, from 203.0.113.151:
		// each port a PORT and a LIST; 22 and 25 open (the listing goes
		// there), the others refused.
		k := g.tcp("203.0.113.151", 46000, "10.0.0.4", 21)
		k.open(0.5, 0.03)
		k.sv(0.6, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt := k.cmds(1.0, 0.1, "USER anonymous", "331 Please specify the password.", "PASS -wwwuser@", "230 Login successful.")
		for p := 20; p <= 27; p++ {
			reply := "425 Failed to establish connection."
			if p == 22 || p == 25 {
				reply = "150 Here comes the directory listing."
			}
			tt = k.cmds(tt, 0.05, fmt.Sprintf("PORT 10,0,0,3,0,%d", p), "200 PORT command successful. Consider using PASV.", "LIST", reply)
			if p == 22 || p == 25 {
				k.sv(tt, "PA", "226 Directory send OK.\r\n")
				tt += 0.05
			}
		}
		k.close(tt+0.5, 0.03)
		g.end("ftp-bounce-scan", "fbs-")
	}

	// ftpLogins opens FTP connections from c to the server and tries
	// user/password pairs, three to a connection (vsftpd's max_login_fails),
	// every gap seconds; the last reply of all is last.
	ftpLogins := func(g *G, t, gap float64, c string, cport uint16, users []string, last string) float64 {
		var k *conn
		for i, u := range users {
			if i%3 == 0 {
				if k != nil {
					k.close(t, 0.01)
					t += 0.05
				}
				k = g.tcp(c, cport, "10.0.0.4", 21)
				cport++
				k.open(t, 0.01)
				k.sv(t+0.03, "PA", "220 (vsFTPd 3.0.3)\r\n")
				t += 0.05
			}
			reply := "530 Login incorrect."
			if i == len(users)-1 && last != "" {
				reply = last
			}
			t = k.cmds(t, gap, "USER "+u, "331 Please specify the password.", fmt.Sprintf("PASS guess%d", i), reply)
		}
		k.close(t, 0.01)
		return t + 0.05
	}
	repeat := func(u string, n int) []string {
		var out []string
		for range n {
			out = append(out, u)
		}
		return out
	}

	scenarios["password-guessing"] = func(g *G) {
		// alice mistypes twice, then logs in.
		ftpLogins(g, 0.5, 1.0, "198.51.100.61", 50300, []string{"alice", "alice", "alice"}, "230 Login successful.")
		// 203.0.113.180 tries one password for each of 24 accounts.
		users := []string{"admin", "root", "oracle", "postgres", "mysql", "user", "test1", "backup", "www", "webmaster", "support", "info",
			"sales", "office", "operator", "ubuntu", "debian", "pi", "git", "jenkins", "deploy", "dev", "staff", "nagios"}
		ftpLogins(g, 5.0, 2.0, "203.0.113.180", 41000, users, "")
		g.end("password-guessing", "pwg-")
	}

	scenarios["account-password-guessing"] = func(g *G) {
		// Five sources try admin five times each over SMTP AUTH LOGIN:
		// none reaches the per-source count, the account does.
		b64 := base64.StdEncoding.EncodeToString
		t := 0.5
		for i := range 5 {
			src := fmt.Sprintf("198.51.100.%d", 200+i)
			for j := range 5 {
				k := g.tcp(src, uint16(40000+j), "10.0.0.5", 25)
				k.open(t, 0.01)
				k.sv(t+0.03, "PA", "220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n")
				tt := k.cmds(t+0.05, 0.05, "EHLO x", "250-mail.example.net", "AUTH LOGIN", "334 VXNlcm5hbWU6",
					b64([]byte("admin")), "334 UGFzc3dvcmQ6", b64([]byte(fmt.Sprintf("Winter%d!", i*5+j))), "535 5.7.8 Error: authentication failed: authentication failure",
					"QUIT", "221 2.0.0 Bye")
				k.close(tt, 0.01)
				t += 2.0
			}
		}
		// A mail client logs in with AUTH PLAIN.
		m := g.tcp("198.51.100.25", 40250, "10.0.0.5", 25)
		m.open(t, 0.02)
		m.sv(t+0.05, "PA", "220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n")
		tt := m.cmds(t+0.1, 0.1, "EHLO laptop", "250-mail.example.net", "AUTH PLAIN "+b64([]byte("\x00bob\x00correct horse")), "235 2.7.0 Authentication successful", "QUIT", "221 2.0.0 Bye")
		m.close(tt, 0.02)
		g.end("account-password-guessing", "apg-")
	}

	scenarios["password-guessed"] = func(g *G) {
		// hydra -l admin -P words.txt ftp://10.0.0.4 from 203.0.113.181:
		// 23 wrong passwords, then the right one.
		ftpLogins(g, 0.5, 1.0, "203.0.113.181", 42000, repeat("admin", 24), "230 Login successful.")
		g.end("password-guessed", "pgd-")
	}
}
