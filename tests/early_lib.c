/* early_lib.c: a library whose constructor makes the first allocation of
 * the process, malloc(0), before cairn's own constructor has run (a
 * library cairn is preloaded under is set up before cairn is). t_early. */
#include <stdlib.h>

void *early_block;

__attribute__((constructor)) static void early_ctor(void)
{
    early_block = malloc(0);
}
