/* main.c - moesim's entry point; everything lives in cli_main (cli.h). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
