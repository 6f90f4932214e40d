/*
 * ms_config.h - small helpers for reading libconfig files, shared by the scenario
 * loader and the profile reader, so both describe a wrongly typed value the same way.
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

/* "an integer", "a number", "a string", ... for a libconfig CONFIG_TYPE_* value, for
 * messages such as "cluster.nodes must be an integer, not a string". */
const char *ms_config_type_name(int config_type);

#endif
