/* The floor of the load run: a UDP "server" that does no DNS work at all. It blocks in
 * recvmmsg(2) for up to 16 datagrams (returning as soon as one is there), turns each into a
 * response by setting the QR bit, and sends them back with one sendmmsg(2). What any real server
 * pays on top of this row is its own work; what this row pays is the kernel's.
 *
 * usage: reflector ADDRESS PORT   (IPv4; runs until killed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 16
#define SIZE 4096

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: reflector ADDRESS PORT\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "reflector: bad address %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("reflector");
        return 1;
    }
    static char buffers[BATCH][SIZE];
    struct sockaddr_in peers[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr in[BATCH], out[BATCH];
    for (;;) {
        memset(in, 0, sizeof in);
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = buffers[i];
            iov[i].iov_len = SIZE;
            in[i].msg_hdr.msg_iov = &iov[i];
            in[i].msg_hdr.msg_iovlen = 1;
            in[i].msg_hdr.msg_name = &peers[i];
            in[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        int n = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            out[i] = in[i];
            iov[i].iov_len = in[i].msg_len;
            if (in[i].msg_len >= 3)
                buffers[i][2] |= (char)0x80;
        }
        sendmmsg(fd, out, n, 0);
    }
}
