# ruff: noqa: E501, E101 - verbatim tool output, tabs and long lines included
"""Usage texts printed by the fake ``zfs``/``zpool`` on a bad command line (exit 2), per flavour.

The zfs-fuse texts are copied verbatim from real zfs-fuse 0.7 output (fixtures); the OpenZFS ones follow
OpenZFS 2.2 ``zfs_main.c`` for the commands pyzfsnas uses.
"""

from __future__ import annotations

__all__ = ["FUSE_PROPTABLE", "FUSE_ZFS_USAGE", "FUSE_ZPOOL_PROPTABLE", "FUSE_ZPOOL_USAGE", "OPENZFS_ZFS_USAGE",
           "OPENZFS_ZPOOL_USAGE"]

FUSE_ZFS_USAGE = 'usage: zfs command args ...\nwhere \'command\' is one of the following:\n\n\tcreate [-p] [-o property=value] ... <filesystem>\n\tcreate [-ps] [-b blocksize] [-o property=value] ... -V <size> <volume>\n\tdestroy [-rRf] <filesystem|volume>\n\tdestroy [-rRd] <snapshot>\n\n\tsnapshot [-r] [-o property=value] ... <filesystem@snapname|volume@snapname>\n\trollback [-rRf] <snapshot>\n\tclone [-p] [-o property=value] ... <snapshot> <filesystem|volume>\n\tpromote <clone-filesystem>\n\trename <filesystem|volume|snapshot> <filesystem|volume|snapshot>\n\trename -p <filesystem|volume> <filesystem|volume>\n\trename -r <snapshot> <snapshot>\n\tlist [-rH][-d max] [-o property[,...]] [-t type[,...]] [-s property] ...\n\t    [-S property] ... [filesystem|volume|snapshot] ...\n\n\tset <property=value> <filesystem|volume|snapshot> ...\n\tget [-rHp] [-d max] [-o "all" | field[,...]] [-s source[,...]]\n\t    <"all" | property[,...]> [filesystem|volume|snapshot] ...\n\tinherit [-rS] <property> <filesystem|volume|snapshot> ...\n\tupgrade [-v]\n\tupgrade [-r] [-V version] <-a | filesystem ...>\n\tuserspace [-hniHp] [-o field[,...]] [-sS field] ... [-t type[,...]]\n\t    <filesystem|snapshot>\n\tgroupspace [-hniHpU] [-o field[,...]] [-sS field] ... [-t type[,...]]\n\t    <filesystem|snapshot>\n\n\tmount\n\tmount [-vO] [-o opts] <-a | filesystem>\n\tunmount [-f] <-a | filesystem|mountpoint>\n\tshare <-a | filesystem>\n\tunshare <-a | filesystem|mountpoint>\n\n\tsend [-RDp] [-[iI] snapshot] <snapshot>\n\treceive [-vnF] <filesystem|volume|snapshot>\n\treceive [-vnF] -d <filesystem>\n\n\tallow <filesystem|volume>\n\tallow [-ldug] <"everyone"|user|group>[,...] <perm|@setname>[,...]\n\t    <filesystem|volume>\n\tallow [-ld] -e <perm|@setname>[,...] <filesystem|volume>\n\tallow -c <perm|@setname>[,...] <filesystem|volume>\n\tallow -s @setname <perm|@setname>[,...] <filesystem|volume>\n\n\tunallow [-rldug] <"everyone"|user|group>[,...]\n\t    [<perm|@setname>[,...]] <filesystem|volume>\n\tunallow [-rld] -e [<perm|@setname>[,...]] <filesystem|volume>\n\tunallow [-r] -c [<perm|@setname>[,...]] <filesystem|volume>\n\tunallow [-r] -s @setname [<perm|@setname>[,...]] <filesystem|volume>\n\n\thold [-r] <tag> <snapshot> ...\n\tholds [-r] <snapshot> ...\n\trelease [-r] <tag> <snapshot> ...\n\nEach dataset is of the form: pool/[dataset/]*dataset[@name]\n\nFor the property list, run: zfs set|get\n\nFor the delegated permission list, run: zfs allow|unallow\n'

FUSE_PROPTABLE = 'The following properties are supported:\n\n\tPROPERTY       EDIT  INHERIT   VALUES\n\n\tavailable        NO       NO   <size>\n\tcompressratio    NO       NO   <1.00x or higher if compressed>\n\tcreation         NO       NO   <date>\n\tdefer_destroy    NO       NO   yes | no\n\tmounted          NO       NO   yes | no\n\torigin           NO       NO   <snapshot>\n\treferenced       NO       NO   <size>\n\ttype             NO       NO   filesystem | volume | snapshot\n\tused             NO       NO   <size>\n\tusedbychildren   NO       NO   <size>\n\tusedbydataset    NO       NO   <size>\n\tusedbyrefreservation  NO       NO   <size>\n\tusedbysnapshots  NO       NO   <size>\n\tuserrefs         NO       NO   <count>\n\taclinherit      YES      YES   discard | noallow | restricted | passthrough | passthrough-x\n\taclmode         YES      YES   discard | groupmask | passthrough\n\tatime           YES      YES   on | off\n\tcanmount        YES       NO   on | off | noauto\n\tcasesensitivity  NO      YES   sensitive | insensitive | mixed\n\tchecksum        YES      YES   on | off | fletcher2 | fletcher4 | sha256\n\tcompression     YES      YES   on | off | lzjb | gzip | gzip-[1-9] | zle\n\tcopies          YES      YES   1 | 2 | 3\n\tdedup           YES      YES   on | off | verify | sha256[,verify]\n\tdevices         YES      YES   on | off\n\texec            YES      YES   on | off\n\tlogbias         YES      YES   latency | throughput\n\tmlslabel        YES      YES   <sensitivity label>\n\tmountpoint      YES      YES   <path> | legacy | none\n\tnbmand          YES      YES   on | off\n\tnormalization    NO      YES   none | formC | formD | formKC | formKD\n\tprimarycache    YES      YES   all | none | metadata\n\tquota           YES       NO   <size> | none\n\treadonly        YES      YES   on | off\n\trecordsize      YES      YES   512 to 128k, power of 2\n\trefquota        YES       NO   <size> | none\n\trefreservation  YES       NO   <size> | none\n\treservation     YES       NO   <size> | none\n\tsecondarycache  YES      YES   all | none | metadata\n\tsetuid          YES      YES   on | off\n\tsharenfs        YES      YES   on | off | share(1M) options\n\tsharesmb        YES      YES   on | off | sharemgr(1M) options\n\tsnapdir         YES      YES   hidden | visible\n\tutf8only         NO      YES   on | off\n\tversion         YES       NO   1 | 2 | 3 | 4 | current\n\tvolblocksize     NO      YES   512 to 128k, power of 2\n\tvolsize         YES       NO   <size>\n\tvscan           YES      YES   on | off\n\txattr           YES      YES   on | off\n\tzoned           YES      YES   on | off\n\tuserused@...     NO       NO   <size>\n\tgroupused@...    NO       NO   <size>\n\tuserquota@...   YES       NO   <size> | none\n\tgroupquota@...  YES       NO   <size> | none\n\nSizes are specified in bytes with standard units such as K, M, G, etc.\n\nUser-defined properties can be specified by using a name containing a colon (:).\n\nThe {user|group}{used|quota}@ properties must be appended with\na user or group specifier of one of these forms:\n    POSIX name      (eg: "matt")\n    POSIX id        (eg: "126829")\n    SMB name@domain (eg: "matt@sun")\n    SMB SID         (eg: "S-1-234-567-89")\n'

FUSE_ZPOOL_USAGE = 'usage: zpool command args ...\nwhere \'command\' is one of the following:\n\n\tcreate [-fn] [-o property=value] ... \n\t    [-O file-system-property=value] ... \n\t    [-m mountpoint] [-R root] <pool> <vdev> ...\n\tdestroy [-f] <pool>\n\n\tadd [-fn] [-o property=value] <pool> <vdev> ...\n\tremove <pool> <device> ...\n\n\tlist [-H] [-o property[,...]] [pool] ...\n\tiostat [-v] [-T d|u] [pool] ... [interval [count]]\n\tstatus [-vx] [pool] ...\n\n\tonline <pool> <device> ...\n\toffline [-t] <pool> <device> ...\n\tclear [-nF] <pool> [device]\n\n\tattach [-f] [-o property=value] <pool> <device> <new-device>\n\tdetach <pool> <device>\n\treplace [-f] [-o property=value] <pool> <device> [new-device]\n\tsplit [-n] [-R altroot] [-o mntopts]\n\t    [-o property=value] <pool> <newpool> [<device> ...]\n\n\tscrub [-s] <pool> ...\n\n\timport [-d dir] [-D]\n\timport [-d dir | -c cachefile] [-n] -F <pool | id>\n\timport [-o mntopts] [-o property=value] ... \n\t    [-d dir | -c cachefile] [-D] [-f] [-R root] -a [-v]\n\timport [-o mntopts] [-o property=value] ... \n\t    [-d dir | -c cachefile] [-D] [-f] [-R root] <pool | id> [newpool]\n\texport [-f] <pool> ...\n\tupgrade\n\tupgrade -v\n\tupgrade [-V version] <-a | pool ...>\n\n\thistory [-il] [<pool>] ...\n\tget <"all" | property[,...]> <pool> ...\n\tset <property=value> <pool> \n'

FUSE_ZPOOL_PROPTABLE = 'the following properties are supported:\n\n\tPROPERTY         EDIT   VALUES\n\n\tallocated          NO   <size>\n\tcapacity           NO   <size>\n\tdedupratio         NO   <1.00x or higher if deduped>\n\tfree               NO   <size>\n\tguid               NO   <guid>\n\thealth             NO   <state>\n\tsize               NO   <size>\n\taltroot           YES   <path>\n\tashift            YES   <ashift, 9-13, or 0=default>\n\tautoexpand        YES   on | off\n\tautoreplace       YES   on | off\n\tbootfs            YES   <filesystem>\n\tcachefile         YES   <file> | none\n\tdedupditto        YES   <threshold (min 100)>\n\tdelegation        YES   on | off\n\tfailmode          YES   wait | continue | panic\n\tlistsnapshots     YES   on | off\n\tversion           YES   <version>\n'

OPENZFS_ZFS_USAGE = """usage: zfs command args ...
where 'command' is one of the following:

	version

	create [-Pnpuv] [-o property=value] ... <filesystem>
	create [-Pnpsv] [-b blocksize] [-o property=value] ... -V <size> <volume>
	destroy [-fnpRrv] <filesystem|volume>
	destroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]
	destroy <filesystem|volume>#<bookmark>

	snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...
	rollback [-rRf] <snapshot>
	clone [-p] [-o property=value] ... <snapshot> <filesystem|volume>
	promote <clone-filesystem>
	rename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>
	rename -p [-f] <filesystem|volume> <filesystem|volume>
	rename -u [-f] <filesystem> <filesystem>
	rename -r <snapshot> <snapshot>
	bookmark <snapshot|bookmark> <newbookmark>
	program [-jn] [-t <instruction limit>] [-m <memory limit (b)>]
	    <pool> <program file> [lua args...]

	list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...
	    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...

	set <property=value> ... <filesystem|volume|snapshot> ...
	get [-rHp] [-d max] [-o "all" | field[,...]]
	    [-t type[,...]] [-s source[,...]]
	    <"all" | property[,...]> [filesystem|volume|snapshot|bookmark] ...
	inherit [-rS] <property> <filesystem|volume|snapshot> ...
	upgrade [-v]
	upgrade [-r] [-V version] <-a | filesystem ...>

	mount
	mount [-flvO] [-o opts] <-a|-R filesystem|filesystem>
	unmount [-fu] <-a | filesystem|mountpoint>
	share [-l] <-a [nfs|smb] | filesystem>
	unshare <-a [nfs|smb] | filesystem|mountpoint>

	send [-DLPbcehnpsVvw] [-i|-I snapshot]
	     [-R [-X dataset[,dataset]...]]     <snapshot>
	send [-DnVvPLecw] [-i snapshot|bookmark] <filesystem|volume|snapshot>
	send [-DnPpVvLec] [-i bookmark|snapshot] --redact <bookmark> <snapshot>
	send [-nVvPe] -t <receive_resume_token>
	send [-PnVv] --saved filesystem
	receive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...
	    <filesystem|volume|snapshot>
	receive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...
	    [-d | -e] <filesystem>
	receive -A <filesystem|volume>

	hold [-r] <tag> <snapshot> ...
	holds [-rHp] <snapshot> ...
	release [-r] <tag> <snapshot> ...
	diff [-FHth] <snapshot> [snapshot|filesystem]

Each dataset is of the form: pool/[dataset/]*dataset[@name]

For the property list, run: zfs set|get

For the delegated permission list, run: zfs allow|unallow

For further help on a command or topic, run: zfs help [<topic>]
"""

OPENZFS_ZPOOL_USAGE = """usage: zpool command args ...
where 'command' is one of the following:

	version

	create [-fnd] [-o property=value] ...
	    [-O file-system-property=value] ...
	    [-m mountpoint] [-R root] <pool> <vdev> ...
	destroy [-f] <pool>

	list [-gHLpPv] [-o property[,...]] [-T d|u] [pool] ...
	    [interval [count]]
	status [-c [script1,script2,...]] [-igLpPstvxD]  [-T d|u] [pool] ...
	    [interval [count]]

	get [-Hp] [-o "all" | field[,...]] <"all" | property[,...]> <pool> ...
	set <property=value> <pool>

For further help on a command or topic, run: zpool help [<topic>]
"""
