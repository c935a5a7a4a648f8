/*
 * A main() for the fuzz harnesses when they are built without libFuzzer
 * (gcc, or clang without -fsanitize=fuzzer): runs LLVMFuzzerTestOneInput
 * once on each file named on the command line, and on each file of each
 * directory named, so the committed corpora replay as a regression test in
 * every build (under AddressSanitizer in the sanitizer build).  Compiled to
 * nothing when TASKQ_LIBFUZZER is defined: libFuzzer brings its own main.
 */
#include <config.h>

#ifndef TASKQ_LIBFUZZER

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* Runs one input file; returns 0, or 1 if it cannot be read. */
static int
run_file(const char *path)
{
	FILE		*fp;
	unsigned char	*data = NULL, *p;
	size_t		 len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((p = realloc(data, cap)) == NULL) {
				fprintf(stderr, "%s: out of memory\n", path);
				free(data);
				fclose(fp);
				return 1;
			}
			data = p;
		}
		if ((n = fread(data + len, 1, cap - len, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		fprintf(stderr, "%s: read error\n", path);
		free(data);
		fclose(fp);
		return 1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int
run_path(const char *path, size_t *count)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		 sub[4096];
	int		 rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		    de->d_name) >= sizeof(sub)) {
			fprintf(stderr, "%s/%s: path too long\n", path, de->d_name);
			rc = 1;
			continue;
		}
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode)) {
			(*count)++;
			rc |= run_file(sub);
		}
	}
	closedir(d);
	return rc;
}

int
main(int argc, char *argv[])
{
	size_t	 count = 0;
	int	 i, rc = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		rc |= run_path(argv[i], &count);
	printf("%s: %zu inputs replayed\n", argv[0], count);
	return rc;
}

#endif /* !TASKQ_LIBFUZZER */
