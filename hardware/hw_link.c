/* hw_link.c - link class names (see hw_link.h). */
#include "hardware/hw_link.h"

const char *hw_link_class_name(int cls)
{
	static const char *const n[HW_LINK_COUNT] = {"nvlink", "pcie", "nic", "tier1", "tier2", "custom"};
	return cls >= 0 && cls < HW_LINK_COUNT ? n[cls] : "?";
}
