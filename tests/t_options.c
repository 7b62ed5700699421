/* t_options.c: prints the options in force (what CAIRN_VERBOSE=1 shows)
 * after one allocation, so tests/t_options.sh can check how CAIRN_*
 * variables are parsed and how invalid values are reported. */
#include "testutil.h"

int main(void)
{
    void *p = A_malloc(100);
    CHECK(p);
    A_free(p);
    cairn_options_print(stdout);
    return 0;
}
