/* The floor under fim's exec events, for benches/procs.sh: the least a process-connector
 * reader can do. MODE 0 only receives every event (no filter); MODE 1 also reads each
 * exec'd process's /proc/PID/stat and /proc/PID/exe, the two looks any reader needs to
 * know what started. Runs until killed. */
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int mode = argc > 1 ? atoi(argv[1]) : 0;
    int fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_CONNECTOR);
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = getpid()};
    if (fd < 0 || bind(fd, (void *)&addr, sizeof addr) < 0) {
        perror("connector");
        return 1;
    }
    char buf[4096];
    memset(buf, 0, sizeof buf);
    struct nlmsghdr *hdr = (void *)buf;
    hdr->nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + 4);
    hdr->nlmsg_type = NLMSG_DONE;
    hdr->nlmsg_pid = getpid();
    struct cn_msg *msg = NLMSG_DATA(hdr);
    msg->id.idx = CN_IDX_PROC;
    msg->id.val = CN_VAL_PROC;
    msg->len = 4;
    *(int *)msg->data = PROC_CN_MCAST_LISTEN;
    if (send(fd, hdr, hdr->nlmsg_len, 0) < 0) {
        perror("connector");
        return 1;
    }
    for (;;) {
        if (recv(fd, buf, sizeof buf, 0) <= 0)
            continue;
        struct proc_event *event = (void *)((struct cn_msg *)NLMSG_DATA(hdr))->data;
        if (event->what != PROC_EVENT_EXEC || mode == 0)
            continue;
        char path[64], out[1024];
        int pid = event->event_data.exec.process_pid;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        int stat = open(path, O_RDONLY);
        if (stat >= 0) {
            if (read(stat, out, sizeof out) < 0)
                continue;
            close(stat);
        }
        snprintf(path, sizeof path, "/proc/%d/exe", pid);
        if (readlink(path, out, sizeof out) < 0)
            continue;
    }
}
