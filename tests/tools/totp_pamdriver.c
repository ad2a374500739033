/*
 * totp_pamdriver.c - drive pam_authenticate() in-process for the TOTP
 * fault-injection test and the benchmark (any PAM module: pam_nis2 or
 * pam_oath), with pam_start_confdir() so that no system PAM file is used.
 *
 *   totp_pamdriver -c CONFDIR -s SERVICE -u USER -a ANSWER
 *                  [-k BASE32] [-n N] [-r STATEFILE] [-F]
 *   totp_pamdriver -c CONFDIR -s SERVICE -P USERSFILE
 *
 * ANSWER is a literal, or "totp" for the current 6-digit code of -k.
 * -n N runs N times and prints the median and 90th percentile of the time
 * pam_authenticate() took (pam_start/pam_end are not timed); -r FILE is
 * read before the first run and written back (untimed) before each run, so
 * every run starts from the same state.  -F arms faultinject.so (when
 * preloaded) around pam_authenticate and prints how many calls of its
 * class were seen.  -P runs one child per "USER BASE32" line of USERSFILE
 * at the same moment, each with its own current code, and prints how many
 * succeeded.
 *
 * Output: one line "rc=N ok=N runs=N median_us=X p90_us=X [calls=N]".
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liboath/oath.h>
#include <security/pam_appl.h>

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
     void *data)
{
    struct pam_response *r = calloc((size_t)n, sizeof(*r));

    if (r == NULL) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
            msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
            if ((r[i].resp = strdup(data)) == NULL) {
                for (int j = 0; j < i; j++) {
                    free(r[j].resp);
                }
                free(r);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

static int
current_code(const char *b32, char *out)
{
    char *secret = NULL;
    size_t len = 0;
    int rc;

    if (oath_init() != OATH_OK ||
        oath_base32_decode(b32, strlen(b32), &secret, &len) != OATH_OK) {
        return -1;
    }
    rc = oath_totp_generate(secret, len, time(NULL), 30, 0, 6, out);
    free(secret);
    return rc == OATH_OK ? 0 : -1;
}

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;

    *len = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (*len + 4096 > cap) {
            cap = *len + 65536;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) {
            break;
        }
        *len += n;
    }
    fclose(f);
    return buf;
}

static int
restore(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    int ok = write(fd, data, len) == (ssize_t)len;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* One pam_authenticate; *us_out its duration. */
static int
auth_once(const char *confdir, const char *service, const char *user,
          const char *answer, int fault, long *calls, double *us_out)
{
    struct pam_conv c = {conv, (void *)answer};
    pam_handle_t *ph = NULL;
    int (*arm)(void) = NULL;
    long (*disarm)(void) = NULL;
    double t0;
    int rc;

    rc = pam_start_confdir(service, user, &c, confdir, &ph);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_start_confdir: %d\n", rc);
        return rc;
    }
    if (fault) {
        *(void **)&arm = dlsym(RTLD_DEFAULT, "nis2_fi_arm");
        *(void **)&disarm = dlsym(RTLD_DEFAULT, "nis2_fi_disarm");
        if (arm == NULL || disarm == NULL) {
            fprintf(stderr, "faultinject.so is not preloaded\n");
            exit(2);
        }
        arm();
    }
    t0 = now_us();
    rc = pam_authenticate(ph, 0);
    *us_out = now_us() - t0;
    if (fault) {
        *calls = disarm();
    }
    pam_end(ph, rc);
    return rc;
}

static int
parallel(const char *confdir, const char *service, const char *usersfile)
{
    char users[64][65], secrets[64][129], line[256];
    pid_t pids[64];
    int n = 0, ok = 0, pfd[2];
    FILE *f = fopen(usersfile, "r");

    if (f == NULL) {
        perror(usersfile);
        return 2;
    }
    while (n < 64 && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%64s %128s", users[n], secrets[n]) == 2) {
            n++;
        }
    }
    fclose(f);
    if (pipe(pfd) != 0) {
        return 2;
    }
    for (int i = 0; i < n; i++) {
        if ((pids[i] = fork()) == 0) {
            char code[16], c;
            double us;
            long calls;
            close(pfd[1]);
            if (current_code(secrets[i], code) != 0) {
                _exit(3);
            }
            (void)read(pfd[0], &c, 1);
            _exit(auth_once(confdir, service, users[i], code, 0, &calls, &us) ==
                          PAM_SUCCESS
                      ? 0
                      : 1);
        }
    }
    close(pfd[0]);
    usleep(200000); /* let every child reach the barrier */
    close(pfd[1]);
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) &&
            WEXITSTATUS(st) == 0) {
            ok++;
        }
    }
    printf("rc=0 ok=%d runs=%d\n", ok, n);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *confdir = NULL, *service = NULL, *user = NULL;
    const char *answer = NULL, *b32 = NULL, *state = NULL, *pfile = NULL;
    int runs = 1, fault = 0, opt, rc = PAM_AUTH_ERR, ok = 0;
    char code[16];
    char *saved = NULL;
    size_t saved_len = 0;
    long calls = 0;

    while ((opt = getopt(argc, argv, "c:s:u:a:k:n:r:FP:")) != -1) {
        switch (opt) {
        case 'c':
            confdir = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'a':
            answer = optarg;
            break;
        case 'k':
            b32 = optarg;
            break;
        case 'n':
            runs = atoi(optarg);
            break;
        case 'r':
            state = optarg;
            break;
        case 'F':
            fault = 1;
            break;
        case 'P':
            pfile = optarg;
            break;
        default:
            return 2;
        }
    }
    if (confdir == NULL || service == NULL) {
        fprintf(stderr, "usage: see the file's opening comment\n");
        return 2;
    }
    if (pfile != NULL) {
        return parallel(confdir, service, pfile);
    }
    if (user == NULL || answer == NULL || runs < 1 ||
        (strcmp(answer, "totp") == 0 && b32 == NULL)) {
        fprintf(stderr, "usage: see the file's opening comment\n");
        return 2;
    }
    if (state != NULL && (saved = slurp(state, &saved_len)) == NULL) {
        perror(state);
        return 2;
    }
    double *t = calloc((size_t)runs, sizeof(double));
    if (t == NULL) {
        return 2;
    }
    for (int i = 0; i < runs; i++) {
        const char *a = answer;
        if (strcmp(answer, "totp") == 0) {
            if (current_code(b32, code) != 0) {
                return 2;
            }
            a = code;
        }
        if (saved != NULL && restore(state, saved, saved_len) != 0) {
            perror(state);
            return 2;
        }
        rc = auth_once(confdir, service, user, a, fault, &calls, &t[i]);
        ok += rc == PAM_SUCCESS;
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_double);
    printf("rc=%d ok=%d runs=%d median_us=%.1f p90_us=%.1f", rc, ok, runs,
           t[runs / 2], t[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1]);
    if (fault) {
        printf(" calls=%ld", calls);
    }
    printf("\n");
    free(t);
    free(saved);
    return 0;
}
