/* A getaddrinfo client, built by tests/it/e2e with musl-gcc: musl's own resolver (the one in
 * Alpine images) asks clusterdns from inside a pod. Prints one "ADDRESS CANONNAME" line per
 * address; exit 1 with the error when the name does not resolve. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 2;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_CANONNAME;
    struct addrinfo *found;
    int rc = getaddrinfo(argv[1], NULL, &hints, &found);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], gai_strerror(rc));
        return 1;
    }
    for (struct addrinfo *ai = found; ai; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN];
        const void *address = ai->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        inet_ntop(ai->ai_family, address, text, sizeof text);
        printf("%s %s\n", text, ai->ai_canonname ? ai->ai_canonname : "");
    }
    freeaddrinfo(found);
    return 0;
}
