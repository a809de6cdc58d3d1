/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the 6.12 Rust `module!` cannot express, written in a module's C shim with these macros
 * and reached from Rust through param.rs and platform.rs. Each macro also defines the accessor
 * the Rust side declares, under a name that spells its C type (kext_param_uint_NAME,
 * kext_param_int_NAME), so a Rust declaration of another type does not link.
 */
#ifndef VCSM_KEXT_MODULE_H
#define VCSM_KEXT_MODULE_H

#include <linux/compiler.h>
#include <linux/moduleparam.h>

/*
 * A module parameter @name of C type @ctype (module_param type @type), with its accessor
 * kext_param_@type_@name(); use the two below.
 */
#define KEXT_PARAM_TYPED(name, ctype, type, def, perm, desc)		\
	static ctype name = (def);					\
	module_param(name, type, perm);					\
	MODULE_PARM_DESC(name, desc);					\
	ctype kext_param_##type##_##name(void);				\
	ctype kext_param_##type##_##name(void)				\
	{								\
		return READ_ONCE(name);					\
	}

/* An unsigned int module parameter @name, read from Rust with kext_param!(fn @name: u32). */
#define KEXT_PARAM_UINT(name, def, perm, desc) \
	KEXT_PARAM_TYPED(name, unsigned int, uint, def, perm, desc)

/* An int module parameter @name, read from Rust with kext_param!(fn @name: i32). */
#define KEXT_PARAM_INT(name, def, perm, desc) \
	KEXT_PARAM_TYPED(name, int, int, def, perm, desc)

/*
 * The module's platform driver @drv (a struct platform_driver the shim defines, whose probe
 * and remove call into Rust), registered from Rust by platform.rs's CPlatformDriver.
 */
#define KEXT_PLATFORM_DRIVER(drv)					\
	int kext_platform_driver_register(void);			\
	void kext_platform_driver_unregister(void);			\
	int kext_platform_driver_register(void)				\
	{								\
		return platform_driver_register(&(drv));		\
	}								\
	void kext_platform_driver_unregister(void)			\
	{								\
		platform_driver_unregister(&(drv));			\
	}

#endif /* VCSM_KEXT_MODULE_H */
