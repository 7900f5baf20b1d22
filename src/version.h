/* version.h -- the release version, printed by --version. */
#define VERSION "0.1.0"
